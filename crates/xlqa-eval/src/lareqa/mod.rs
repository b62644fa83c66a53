//! LAReQA (Roy et al., EMNLP 2020): language-agnostic answer retrieval from a
//! multilingual pool, on XQuAD-R / MLQA-R.
//!
//! **Task.** Every sentence of every context paragraph of every language is a
//! candidate, all in one pool (XQuAD-R: 13,014 sentences in 11 languages).
//! A candidate is correct for question `q` when it holds the answer of `q`
//! or of a question with the same id in another language (its translations),
//! located with `answer_start` and `sentence_breaks` (see
//! [`AnswerSentenceRule`](xlqa_data::lareqa::AnswerSentenceRule)). So an XQuAD-R question has 11 correct
//! candidates, one per language; an MLQA-R question 2–4.
//!
//! **Candidate text.** The sentence alone, or the sentence followed by its
//! paragraph (`sentence+context`, the paper's "QA with context" input).
//!
//! **Metrics** (per question, then averaged over the questions of each
//! question language and over all questions; see [`metrics`] for ties):
//! mAP (the paper's Eq. 1), MRR, Recall@1/10/100.
//!
//! **Language-bias diagnostics.**
//! - *Remove one target* (paper §6.2, Table 3): each question's pool loses
//!   either its same-language correct candidate (`–same`) or one correct
//!   candidate of another language chosen at random (`–rand`, seeded); mAP is
//!   computed over the remaining targets. A model that prefers its own
//!   language ranks the same-language target high, so losing it costs more:
//!   `%Δ = 100 · (mAP(–same) − mAP(–rand)) / mAP(–rand)` is then clearly
//!   negative; near 0 means no same-language preference.
//! - *Limit to one target* (paper Fig. 4): for question language X and
//!   answer language Y, only the Y target counts and the other targets leave
//!   the pool; the mean AP (= MRR here, one target) fills cell (X, Y) of the
//!   language-pair matrix.
//! - *Top-100 languages* (paper Appendix B): the share of each candidate
//!   language among the 100 best candidates, per question language.
//! - *Monolingual pool* (paper Table 4's zero-shot variant): each question is
//!   asked against the candidates of its own language only.
//!
//! Retrievers: the dense encoder (cosine of L2-normalized e5 embeddings,
//! `query: ` / `passage: ` prefixes), BM25 (one field per candidate language
//! with that language's analyzer; the question is analyzed with its own
//! language's analyzer and searched over all fields, as `xlqa ask` does) and
//! their hybrid (weighted reciprocal-rank fusion of the two top-`depth`
//! lists). Candidates a retriever does not return share the lowest score.

pub mod job;
pub mod metrics;
pub mod report;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;
use xlqa_core::{Lang, LangSource, Passage};
use xlqa_index::{Debias, DebiasMethod, Index};
use xlqa_models::{EmbeddingCache, Encoder, TextKind};
use xlqa_search::fusion::{rrf, single, RankedList};
use xlqa_search::retrieve::{self, RetrieveQuery, Retriever};
use xlqa_search::RetrieveOptions;
use xlqa_text::analyze::Analyzer;

use metrics::{top_k, RankCounts, Variant};
pub use report::LareqaReport;
use xlqa_data::lareqa::LareqaData;

/// Errors of the LAReQA evaluation.
#[derive(Debug, thiserror::Error)]
pub enum LareqaError {
    /// Reading the data (or a temporary folder) failed.
    #[error(transparent)]
    Data(#[from] xlqa_data::DataError),
    /// Scores or data that do not fit the evaluation.
    #[error("{0}")]
    Invalid(String),
    /// A report file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Cache(#[from] xlqa_models::CacheError),
    #[error(transparent)]
    Model(#[from] xlqa_models::ModelError),
    #[error(transparent)]
    Index(#[from] xlqa_index::IndexError),
    #[error(transparent)]
    Debias(#[from] xlqa_index::DebiasError),
}

/// What a candidate's text is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum CandidateMode {
    /// The sentence alone.
    #[default]
    #[serde(rename = "sentence")]
    Sentence,
    /// The sentence, a newline, then its whole paragraph.
    #[serde(rename = "sentence+context")]
    SentenceContext,
}

impl std::str::FromStr for CandidateMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sentence" => Ok(CandidateMode::Sentence),
            "sentence+context" => Ok(CandidateMode::SentenceContext),
            _ => Err(format!(
                "unknown candidate mode '{s}' (expected sentence or sentence+context)"
            )),
        }
    }
}

impl std::fmt::Display for CandidateMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CandidateMode::Sentence => "sentence",
            CandidateMode::SentenceContext => "sentence+context",
        })
    }
}

/// The retriever under evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LareqaRetriever {
    Dense,
    Bm25,
    Hybrid,
}

impl std::str::FromStr for LareqaRetriever {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "dense" => Ok(LareqaRetriever::Dense),
            "bm25" => Ok(LareqaRetriever::Bm25),
            "hybrid" => Ok(LareqaRetriever::Hybrid),
            _ => Err(format!(
                "unknown retriever '{s}' (expected dense, bm25 or hybrid)"
            )),
        }
    }
}

impl std::fmt::Display for LareqaRetriever {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LareqaRetriever::Dense => "dense",
            LareqaRetriever::Bm25 => "bm25",
            LareqaRetriever::Hybrid => "hybrid",
        })
    }
}

/// Settings of a run.
#[derive(Clone, Debug)]
pub struct LareqaOptions {
    pub candidate: CandidateMode,
    pub retriever: LareqaRetriever,
    /// Hybrid: length of each fused list.
    pub depth: usize,
    /// Hybrid: RRF constant and weights.
    pub rrf_k: f32,
    pub w_dense: f32,
    pub w_bm25: f32,
    /// Seed of the random target removed in `–rand`.
    pub seed: u64,
    /// Keep embeddings for the PCA plot (at most this many of each kind).
    pub pca_sample: usize,
}

impl Default for LareqaOptions {
    fn default() -> Self {
        LareqaOptions {
            candidate: CandidateMode::Sentence,
            retriever: LareqaRetriever::Dense,
            depth: 1000,
            rrf_k: 60.0,
            w_dense: 1.0,
            w_bm25: 1.0,
            seed: 12345,
            pca_sample: 1500,
        }
    }
}

/// Recall cut-offs reported.
pub const CUTOFFS: [usize; 3] = [1, 10, 100];

/// Everything measured for one question.
#[derive(Clone, Debug, Serialize)]
pub struct QuestionResult {
    /// Question id (shared with its translations) and language.
    pub id: String,
    pub lang: String,
    pub ap: f64,
    pub rr: f64,
    /// Recall@1, @10, @100.
    pub recall: [f64; 3],
    /// AP with the same-language target removed (`None` without one, or
    /// when it is the only target).
    pub ap_minus_same: Option<f64>,
    /// AP with one random other-language target removed.
    pub ap_minus_rand: Option<f64>,
    /// AP against the candidates of the question's language only.
    pub ap_mono: Option<f64>,
    /// AP (= RR) with only the target of each answer language (by language
    /// index; `None` where that language has no target).
    pub ap_by_target: Vec<Option<f64>>,
    /// Candidates of each language among the top 100.
    pub top100: Vec<u32>,
}

/// Embeddings in hand for the PCA plot: (language index, is question, vector).
pub type Points = Vec<(usize, bool, Vec<f32>)>;

/// The text of candidate `c` under `mode`.
pub fn candidate_text(d: &LareqaData, c: usize, mode: CandidateMode) -> String {
    let cand = &d.candidates[c];
    match mode {
        CandidateMode::Sentence => cand.sentence.clone(),
        CandidateMode::SentenceContext => {
            format!("{}\n{}", cand.sentence, d.contexts[cand.context])
        }
    }
}

/// Dense embeddings of questions and candidates, through the cache.
pub struct Embeddings {
    pub questions: Vec<Vec<f32>>,
    pub candidates: Vec<Vec<f32>>,
    pub stats: xlqa_models::CacheStats,
    pub seconds: f64,
}

/// Encodes (or reads from `cache`) the questions and candidate texts.
pub fn embed(
    d: &LareqaData,
    mode: CandidateMode,
    enc: &Encoder,
    cache: &mut EmbeddingCache,
    progress: &dyn Fn(&str, usize, usize),
) -> Result<Embeddings, LareqaError> {
    let t = Instant::now();
    let qtexts: Vec<&str> = d.questions.iter().map(|q| q.text.as_str()).collect();
    let (questions, s1) = cache.encode(enc, &qtexts, TextKind::Query, 512, &|a, b| {
        progress("questions", a, b)
    })?;
    let ctexts: Vec<String> = (0..d.candidates.len())
        .map(|c| candidate_text(d, c, mode))
        .collect();
    let crefs: Vec<&str> = ctexts.iter().map(|s| s.as_str()).collect();
    let (candidates, s2) = cache.encode(enc, &crefs, TextKind::Passage, 512, &|a, b| {
        progress("candidates", a, b)
    })?;
    Ok(Embeddings {
        questions,
        candidates,
        stats: xlqa_models::CacheStats {
            hits: s1.hits + s2.hits,
            encoded: s1.encoded + s2.encoded,
        },
        seconds: t.elapsed().as_secs_f64(),
    })
}

/// Which embeddings a de-biasing transform is fitted on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DebiasFit {
    /// The candidate pool (the collection), by language; questions are
    /// transformed with the statistics of their language's candidates. This
    /// is what an index can do: it never sees the questions.
    #[default]
    Candidates,
    /// Candidates as above; questions with a transform fitted on the
    /// questions themselves, by language (unlabeled, but transductive).
    Separate,
}

impl std::str::FromStr for DebiasFit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "candidates" => Ok(DebiasFit::Candidates),
            "separate" => Ok(DebiasFit::Separate),
            _ => Err(format!(
                "unknown de-biasing fit '{s}' (expected candidates or separate)"
            )),
        }
    }
}

/// Applies a training-free de-biasing transform ([`xlqa_index::Debias`]) to
/// the embeddings in place; returns the fitted transforms (candidates, and
/// questions where fitted separately).
pub fn debias(
    d: &LareqaData,
    e: &mut Embeddings,
    method: DebiasMethod,
    fit: DebiasFit,
) -> Result<Vec<Debias>, LareqaError> {
    if method == DebiasMethod::None {
        return Ok(Vec::new());
    }
    let codes = lang_codes(d);
    fn group<'a>(
        codes: &[String],
        langs: impl Iterator<Item = usize>,
        vs: &'a [Vec<f32>],
    ) -> BTreeMap<String, Vec<&'a [f32]>> {
        let mut g: BTreeMap<String, Vec<&[f32]>> = BTreeMap::new();
        for (l, v) in langs.zip(vs) {
            g.entry(codes[l].clone()).or_default().push(v.as_slice());
        }
        g
    }
    let cand = Debias::fit(
        method,
        &group(&codes, d.candidates.iter().map(|c| c.lang), &e.candidates),
        1,
    )?;
    let ques = match fit {
        DebiasFit::Candidates => None,
        DebiasFit::Separate => Some(Debias::fit(
            method,
            &group(&codes, d.questions.iter().map(|q| q.lang), &e.questions),
            1,
        )?),
    };
    apply_debias(d, e, &cand, ques.as_ref().unwrap_or(&cand))?;
    Ok(std::iter::once(cand).chain(ques).collect())
}

/// Applies fitted transforms in place: `cand` to the candidates and `ques`
/// to the questions, each vector with its language's statistics.
pub fn apply_debias(
    d: &LareqaData,
    e: &mut Embeddings,
    cand: &Debias,
    ques: &Debias,
) -> Result<(), LareqaError> {
    let codes = lang_codes(d);
    let clangs: Vec<&str> = d
        .candidates
        .iter()
        .map(|c| codes[c.lang].as_str())
        .collect();
    cand.apply_all(&clangs, &mut e.candidates)?;
    let qlangs: Vec<&str> = d.questions.iter().map(|q| codes[q.lang].as_str()).collect();
    ques.apply_all(&qlangs, &mut e.questions)?;
    Ok(())
}

/// The candidate pool as an xlqa index (passage store, BM25 with each
/// language's analyzer, the candidates' vectors when there are), in a
/// temporary folder: the retrievers of `xlqa_search::retrieve` search it as
/// they search any index.
pub struct Pool {
    _dir: tempfile::TempDir,
    pub index: Index,
}

impl Pool {
    /// Indexes every candidate; `vectors` are the candidates' final
    /// (de-biased, transformed) embeddings, or None for BM25 alone.
    pub fn build(
        d: &LareqaData,
        mode: CandidateMode,
        vectors: Option<&[Vec<f32>]>,
    ) -> Result<Pool, LareqaError> {
        let dir = tempfile::tempdir()
            .map_err(|e| xlqa_data::DataError::io(Path::new("(temp dir)"), e))?;
        let passages: Vec<Passage> = (0..d.candidates.len())
            .map(|c| Passage {
                id: format!("c{c}"),
                doc_id: format!("c{c}"),
                title: String::new(),
                text: candidate_text(d, c, mode),
                lang: d.langs[d.candidates[c].lang].clone(),
                lang_source: LangSource::Given,
                n_tokens: 0,
                group: None,
            })
            .collect();
        // BM25 alone: one-dimensional zero vectors that no retriever reads
        let zeros = vec![vec![0f32]; passages.len()];
        let vs = vectors.unwrap_or(&zeros);
        let dim = vs.first().map_or(1, Vec::len);
        let langs: Vec<&str> = d.langs.iter().map(Lang::as_str).collect();
        let path = dir.path().join("pool");
        xlqa_index::pool::write_index(&path, &passages, vs, dim, &langs)?;
        let index = Index::open(&path)?;
        Ok(Pool { _dir: dir, index })
    }
}

/// The minimal manifest `LexicalIndex::open` checks analyzers against.
pub fn lexical_manifest(analyzers: &BTreeMap<String, Analyzer>) -> xlqa_index::Manifest {
    xlqa_index::Manifest::new(
        xlqa_index::EncoderInfo {
            id: "none".into(),
            weights_sha256: String::new(),
            dim: 0,
            precision: String::new(),
            delta_dir: None,
        },
        String::new(),
        xlqa_index::manifest::ChunkingInfo {
            target_tokens: 0,
            min_tokens: 0,
        },
        analyzers
            .iter()
            .map(|(l, a)| (l.clone(), xlqa_index::lexical::analyzer_info(a)))
            .collect(),
        Default::default(),
    )
}

const LOWEST: f32 = f32::NEG_INFINITY;

/// Scores of every candidate for every question, computed on demand.
pub trait PoolScorer: Sync {
    /// Scores of all candidates for question `q` (higher is better).
    fn scores(&self, q: usize) -> Result<Vec<f32>, LareqaError>;
}

/// The pool searched by the engine's retrievers (`xlqa_search::retrieve`)
/// and fused as the engine fuses them: one retriever gives its score for
/// every candidate it finds (dense: all of them), several are fused by
/// weighted RRF over their top `depth`.
pub struct RetrieverScorer<'a> {
    pub pool: &'a Pool,
    pub data: &'a LareqaData,
    /// The questions' final embeddings (dense or hybrid).
    pub questions: Option<&'a [Vec<f32>]>,
    pub options: RetrieveOptions,
}

impl<'a> RetrieverScorer<'a> {
    /// Scores by one retriever alone (every candidate it finds), with the
    /// engine's default settings otherwise.
    pub fn only(
        pool: &'a Pool,
        data: &'a LareqaData,
        questions: Option<&'a [Vec<f32>]>,
        retriever: xlqa_search::RetrieverChoice,
    ) -> RetrieverScorer<'a> {
        RetrieverScorer {
            pool,
            data,
            questions,
            options: RetrieveOptions {
                retriever,
                use_ann: false,
                ..RetrieveOptions::default()
            },
        }
    }
}

impl PoolScorer for RetrieverScorer<'_> {
    fn scores(&self, q: usize) -> Result<Vec<f32>, LareqaError> {
        let n = self.data.candidates.len();
        let qu = &self.data.questions[q];
        let none = std::collections::HashSet::new();
        let query = RetrieveQuery {
            text: &qu.text,
            lang: &self.data.langs[qu.lang],
            vector: self.questions.map(|v| v[q].as_slice()),
            exclude: &none,
            options: &self.options,
        };
        let chosen: Vec<Box<dyn Retriever>> = retrieve::registry()
            .into_iter()
            .filter(|r| self.options.retriever.includes(r.name()))
            .collect();
        let depth = if chosen.len() == 1 {
            n
        } else {
            self.options.depth
        };
        let mut lists = Vec::with_capacity(chosen.len());
        for r in &chosen {
            let hits = r.search(&self.pool.index, &query, depth).map_err(|e| {
                LareqaError::Invalid(format!("{} retrieval over the pool: {e}", r.name()))
            })?;
            lists.push((r.name(), hits));
        }
        let ranked: Vec<RankedList<'_>> = lists
            .iter()
            .map(|(name, hits)| RankedList {
                name,
                weight: self.options.weight(name),
                hits,
            })
            .collect();
        let fused = match ranked.as_slice() {
            [one] => single(one, n),
            _ => rrf(&ranked, self.options.rrf_k, n),
        };
        let mut s = vec![LOWEST; n];
        for f in fused {
            s[f.passage as usize] = f.score;
        }
        Ok(s)
    }
}

/// splitmix64: the seeded choice of the `–rand` target.
fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Evaluates every question of `d` with `scorer`. `progress(done, total)`
/// is called now and then from worker threads.
pub fn evaluate(
    d: &LareqaData,
    scorer: &dyn PoolScorer,
    seed: u64,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Vec<QuestionResult>, LareqaError> {
    let answers = d.answers_by_qid();
    let lang_of: Vec<usize> = d.candidates.iter().map(|c| c.lang).collect();
    let n_langs = d.langs.len();
    let total = d.questions.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    (0..total)
        .into_par_iter()
        .map(|qi| {
            let q = &d.questions[qi];
            let scores = scorer.scores(qi)?;
            if scores.len() != d.candidates.len() {
                return Err(LareqaError::Invalid(format!(
                    "the scorer gave {} scores for {} candidates",
                    scores.len(),
                    d.candidates.len()
                )));
            }
            let rel = &answers[q.qid];
            let rc = RankCounts::new(&scores, &lang_of, n_langs, rel);
            let full = rc.metrics(Variant::FULL, &CUTOFFS).ok_or_else(|| {
                LareqaError::Invalid(format!(
                    "question {} has no correct candidate",
                    d.qids[q.qid]
                ))
            })?;
            let same = rc.relevant_in(q.lang);
            let others: Vec<usize> = (0..rc.relevant.len())
                .filter(|i| !same.contains(i))
                .collect();
            let ap_minus_same = rc
                .metrics(
                    Variant {
                        removed: &same,
                        ..Variant::FULL
                    },
                    &[],
                )
                .filter(|_| !same.is_empty())
                .map(|m| m.ap);
            let ap_minus_rand = if others.is_empty() {
                None
            } else {
                let pick = others[(splitmix(seed ^ (qi as u64).wrapping_mul(0x2545_F491_4F6C_DD1D))
                    % others.len() as u64) as usize];
                rc.metrics(
                    Variant {
                        removed: &[pick],
                        ..Variant::FULL
                    },
                    &[],
                )
                .map(|m| m.ap)
            };
            let ap_mono = rc
                .metrics(
                    Variant {
                        only_lang: Some(q.lang),
                        ..Variant::FULL
                    },
                    &[],
                )
                .map(|m| m.ap);
            let ap_by_target = (0..n_langs)
                .map(|l| {
                    rc.metrics(
                        Variant {
                            only_target_lang: Some(l),
                            ..Variant::FULL
                        },
                        &[],
                    )
                    .map(|m| m.ap)
                })
                .collect();
            let mut top100 = vec![0u32; n_langs];
            for c in top_k(&scores, 100) {
                top100[lang_of[c]] += 1;
            }
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if n.is_multiple_of(256) || n == total {
                progress(n, total);
            }
            Ok(QuestionResult {
                id: d.qids[q.qid].clone(),
                lang: d.langs[q.lang].as_str().to_string(),
                ap: full.ap,
                rr: full.rr,
                recall: [full.recall[0], full.recall[1], full.recall[2]],
                ap_minus_same,
                ap_minus_rand,
                ap_mono,
                ap_by_target,
                top100,
            })
        })
        .collect()
}

/// A sample of embeddings for the PCA plot: up to `per_kind` questions and
/// as many candidates, spread evenly over the data (so over languages).
pub fn pca_points(d: &LareqaData, e: &Embeddings, per_kind: usize) -> Points {
    let mut out = Vec::new();
    let step = |n: usize| (n / per_kind.max(1)).max(1);
    let sq = step(d.questions.len());
    for (i, q) in d.questions.iter().enumerate().step_by(sq) {
        out.push((q.lang, true, e.questions[i].clone()));
    }
    let sc = step(d.candidates.len());
    for (i, c) in d.candidates.iter().enumerate().step_by(sc) {
        out.push((c.lang, false, e.candidates[i].clone()));
    }
    out
}

/// Languages of a dataset as strings.
pub fn lang_codes(d: &LareqaData) -> Vec<String> {
    d.langs
        .iter()
        .map(|l: &Lang| l.as_str().to_string())
        .collect()
}

#[cfg(test)]
mod tests;
