//! Open-retrieval evaluation over an xlqa index (`xlqa eval retrieval`).
//!
//! Inputs: a gold set of questions ([`xlqa_data::gold`], read for
//! [`GoldPurpose::Passages`](xlqa_data::gold::GoldPurpose::Passages): XOR-TyDi / MIA JSONL, MKQA
//! JSONL, an XQuAD folder, or plain xlqa question files), optionally TREC
//! qrels ([`trec::read_qrels`]), and one ranked passage list per question —
//! either retrieved now with the xlqa [`Engine`](xlqa_search::Engine)
//! ([`retrieve_all`]) or read from a TREC run file ([`trec::read_run`]).
//! All ranks below are 1-based positions in the ranked **passage** list.
//!
//! # Metrics
//!
//! ## Relevance-judgment metrics (need qrels)
//!
//! Qrels lines are `qid iter docno rel` (TREC). A `docno` that is a passage
//! id of the index judges that passage; otherwise, if it is a document id of
//! the index, it judges the whole document (any of its passages counts).
//! One topic must not mix the two levels (that is an error). A judged docno
//! found in neither is kept in the denominators (it can never be retrieved —
//! e.g. a document the indexer dropped as too short) and counted in a note.
//! A unit is relevant when `rel > 0`; its gain is `rel`.
//!
//! - **Recall@k** = |relevant units matched by a passage of rank ≤ k| /
//!   |relevant units| (trec_eval `recall.k`). A relevant document is counted
//!   once, at the rank of its best (first) passage.
//! - **nDCG@10** (Järvelin & Kekäläinen 2002, as trec_eval `ndcg_cut.10` /
//!   pytrec_eval): DCG@10 = Σ_{r≤10} gain(r) / log2(r + 1), with gain = the
//!   graded `rel` of the unit the passage at rank r matches, counted only the
//!   first time that unit appears (later passages of an already counted
//!   document gain 0); IDCG@10 is the DCG of all judged grades > 0 sorted in
//!   decreasing order; nDCG = DCG / IDCG.
//! - **MRR@10** = 1 / (rank of the first passage matching a relevant unit)
//!   if that rank ≤ 10, else 0 (MS MARCO convention).
//!
//! Questions without any relevant judged unit are excluded from these three
//! metrics and counted (trec_eval skips topics without relevant documents
//! as well).
//!
//! ## Answer-string recall (need gold answers)
//!
//! Matching ([`matching`]): a passage *contains* an answer when the answer's
//! words form a contiguous sub-sequence of the passage's words, both cut into
//! words by `Analyzer::for_lang(passage language).words()` (NFKC, lowercase,
//! punctuation dropped, script-aware segmentation, no stemming; words are
//! also split at apostrophes, as DPR's tokenizer splits `Broncos'u`). This is the
//! token-level `has_answer` of DPR (Karpukhin et al. 2020), used by CORA, with
//! xlqa's analyzers instead of DPR's regex tokenizer. For languages written
//! without spaces (zh, ja, th, lo, km, my) segmenters are context-dependent
//! (an answer 北京 may be one word inside 北京市 of the passage), so there the
//! test is a substring test on the concatenated words (no separators).
//! Only the passage `text` is searched, not its title (as DPR). Answers
//! `"yes"` / `"no"` are ignored, as the official XOR-TyDi script does; a
//! question left without answers is excluded from the metric and counted.
//!
//! - **R^L@k** (CORA, Asai et al. 2021, "One Question Answering Model for
//!   Many Languages with Cross-lingual Dense Passage Retrieval"): 1 if a
//!   passage of rank ≤ k *in the question's language* contains a gold answer
//!   in the question's language. Questions whose gold set has no answer in
//!   their own language (e.g. XOR-TyDi EnglishSpan: English answers for
//!   non-English questions) are excluded and counted.
//! - **R^multi@k** (CORA): 1 if a passage of rank ≤ k in any language M
//!   contains a gold answer in M (parallel answers: XQuAD's shared ids, MKQA's
//!   26 languages; for XOR the answers' language only). A passage in a
//!   language without gold answers cannot count.
//! - **R@2kt / R@5kt** (XOR-TyDi, Asai et al. 2021, "XOR QA: Cross-lingual
//!   Open-Retrieval Question Answering", official `eval_xor_retrieve.py`):
//!   the retrieved passages are concatenated in rank order and cut after the
//!   first 2,000 / 5,000 tokens; 1 if a gold answer (in the answers'
//!   language, English for XOR-Retrieve) appears in what is kept. Tokens:
//!   whitespace-delimited tokens for languages written with spaces, analyzer
//!   words for zh/ja/th/lo/km/my. Deviations from the official script: it
//!   tokenizes with NLTK `word_tokenize` (which also splits punctuation off
//!   words, so it counts somewhat more tokens than whitespace splitting) and
//!   tests a case-sensitive raw substring of the joined tokens; here the word
//!   match above is used, within each passage (a match never spans two
//!   passages).
//!
//! ## Aggregation
//!
//! Every metric is a per-question value in [0, 1]. It is averaged per
//! question language (over the questions for which it is defined), then
//! **macro** = the unweighted mean over the languages with at least one
//! such question (XOR-TyDi and CORA report this average), and **micro** =
//! the mean over all such questions.
//!
//! ## Ties
//!
//! Engine rankings are used in the engine's order (RRF ties are broken by
//! passage row, see `xlqa_search::fusion`). Run files are re-sorted as
//! trec_eval does: score descending, ties by docno descending (byte order);
//! the rank column is checked to be an integer but not used.

pub mod job;
pub mod matching;
pub mod metrics;
pub mod report;
pub mod trec;

pub use report::{evaluate, retrieve_all, EvalInput, EvalOptions, OpenEvalReport, QuestionScores};
pub use trec::{read_qrels, read_run, resolve_qrels, resolve_run, Judgments, Qrels, RunFile};

use std::path::PathBuf;

/// Errors of the open-retrieval evaluation.
#[derive(Debug, thiserror::Error)]
pub enum OpenEvalError {
    /// A problem with one line of an input file (`line` 0: the whole file).
    #[error("{}:{line}: {message}", file.display())]
    Input {
        file: PathBuf,
        line: usize,
        message: String,
    },
    #[error(transparent)]
    Data(#[from] xlqa_data::DataError),
    #[error(transparent)]
    Search(#[from] xlqa_search::SearchError),
    /// The embedding cache of question vectors.
    #[error(transparent)]
    Cache(#[from] xlqa_models::cache::CacheError),
    /// Inputs that do not fit together (e.g. a run naming passages the index
    /// does not have).
    #[error("{0}")]
    Mismatch(String),
}

impl OpenEvalError {
    pub(crate) fn input(file: &std::path::Path, line: usize, message: impl Into<String>) -> Self {
        OpenEvalError::Input {
            file: file.to_path_buf(),
            line,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests;
