//! Readers: each turns the retrieved passages into an answer.
//!
//! # The contract
//!
//! A [`Reader`] holds its model (if any) and reads with the shared
//! [`Corpus`] (passages, retrieval encoder, language identifier):
//!
//! * [`Reader::name`] is its stable name: `--reader NAME`,
//!   [`AskOptions::reader`], and [`Answer::reader`] in every answer.
//! * [`Reader::needs_vector`] asks the engine for the question's embedding
//!   in the index's space ([`ReadInput::vector`]), computed once and shared
//!   with dense retrieval.
//! * [`Reader::read`] looks at most at [`AskOptions::read_top`] of
//!   [`ReadInput::hits`] (fused, best first) and returns an answer and/or a
//!   note. The note says why there is no answer, or why the answer is not in
//!   the question's language ([`Answer::cross_lingual`]): a reader never
//!   fails silently. Errors are for broken inputs or models, not for
//!   "nothing found". A reader must not panic on any question or passage.
//!
//! # Adding a reader
//!
//! Write `read/myreader.rs` with a type that implements [`Reader`], and add
//! one arm to [`load`]: `--reader myreader` and the engine builder find it
//! by name. ARCHITECTURE.md walks through an example.

pub mod llm;
pub mod sentence;
pub mod span;

use std::path::PathBuf;

use xlqa_core::{Lang, Passage, Question};
use xlqa_models::install::ModelHome;

use crate::answer::{Answer, AskOptions};
use crate::corpus::Corpus;
use crate::fusion::FusedHit;
use crate::SearchError;

/// What a reader is given.
pub struct ReadInput<'a> {
    pub question: &'a Question,
    /// The question's language.
    pub lang: &'a Lang,
    /// The question's embedding in the index's space (when asked for).
    pub vector: Option<&'a [f32]>,
    pub hits: &'a [FusedHit],
    pub opts: &'a AskOptions,
}

/// What a reader found.
#[derive(Debug, Default)]
pub struct ReadOutcome {
    pub answer: Option<Answer>,
    pub note: Option<String>,
}

impl ReadOutcome {
    /// No answer, with the reason.
    pub fn none(note: &str) -> ReadOutcome {
        ReadOutcome {
            answer: None,
            note: Some(note.to_string()),
        }
    }
}

/// A way of reading an answer (see the module documentation for the contract).
pub trait Reader: Send + Sync {
    /// Stable name: selection and reports.
    fn name(&self) -> &'static str;
    /// True when [`ReadInput::vector`] must be filled in for these options.
    fn needs_vector(&self, _opts: &AskOptions) -> bool {
        false
    }
    fn read(&self, corpus: &Corpus, input: &ReadInput<'_>) -> Result<ReadOutcome, SearchError>;
}

/// What loading a reader may need.
pub struct LoadContext<'a> {
    pub home: &'a ModelHome,
    /// The span reader's folder (reader.json + reader.safetensors).
    pub span_dir: PathBuf,
    /// Run the span reader's trained layers in f32 exactly as trained.
    pub span_exact: bool,
    /// Messages for the user while a model installs or loads.
    pub progress: &'a dyn Fn(&str),
}

/// The registered readers' names.
pub const READERS: [&str; 3] = ["span", "sentence", "llm"];

/// Loads the reader named `name`: the one place readers are registered.
pub fn load(name: &str, ctx: &LoadContext<'_>) -> Result<Box<dyn Reader>, SearchError> {
    match name {
        "span" => Ok(Box::new(span::Span::load(ctx)?)),
        "sentence" => Ok(Box::new(sentence::Sentence)),
        "llm" => Ok(Box::new(llm::Llm::load(ctx)?)),
        other => Err(SearchError::Input(format!(
            "unknown reader \"{other}\": expected {} or none",
            READERS.join(", ")
        ))),
    }
}

/// The first `n` hits with their passages (rows missing from the store skipped).
pub fn top_passages<'c>(
    corpus: &'c Corpus,
    hits: &'c [FusedHit],
    n: usize,
) -> Vec<(&'c FusedHit, &'c Passage)> {
    hits.iter()
        .take(n)
        .filter_map(|h| corpus.index.store.get(h.passage).map(|p| (h, p)))
        .collect()
}

/// An answer read from passage `p`.
pub fn answer_in(p: &Passage, text: String, reader: &str, score: f32, qlang: &Lang) -> Answer {
    Answer {
        text,
        lang: p.lang.clone(),
        cross_lingual: p.lang != *qlang,
        reader: reader.to_string(),
        score,
        passage_id: p.id.clone(),
        doc_id: p.doc_id.clone(),
        title: p.title.clone(),
        no_answer_score: None,
        projected_from: None,
    }
}
