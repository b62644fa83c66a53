//! Retrieval, fusion, reading and the [`Engine`] that answers a question;
//! also the indexing pipeline that turns documents into an index.
//!
//! * [`retrieve`]: the [`retrieve::Retriever`] seam (dense, BM25), one file each;
//! * [`fusion`]: RRF and score interpolation over any number of ranked lists;
//! * [`read`]: the [`read::Reader`] seam (span, sentence, llm), one file each;
//! * [`corpus`]: the opened index with the models every stage shares;
//! * [`engine`]: question → language → retrievers → fusion → reader;
//! * [`builder`]: [`EngineBuilder`], the one place an engine is set up;
//! * [`answer`]: the serde types of a question's options and result;
//! * [`shipped`]: the models embedded in the binary;
//! * [`indexer`]: documents → index.

pub mod answer;
pub mod builder;
pub mod corpus;
pub mod engine;
pub mod fusion;
pub mod indexer;
pub mod read;
pub mod reader;
pub mod retrieve;
pub mod shipped;
pub mod update;

pub use answer::{Answer, AskOptions, AskResult, RetrievedPassage, SpanEvidence};
pub use builder::{EncoderChoice, EngineBuilder};
pub use engine::Engine;
pub use indexer::{build_index, BuildReport, IndexOptions};
pub use retrieve::{FusionMethod, RetrieveOptions, RetrieverChoice};
pub use update::DocumentsReport;

/// Errors of the search layer.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(transparent)]
    Index(#[from] xlqa_index::IndexError),
    #[error(transparent)]
    Debias(#[from] xlqa_index::DebiasError),
    #[error("encoder: {0}")]
    Model(#[from] xlqa_models::ModelError),
    #[error("span reader: {0}")]
    Span(#[from] xlqa_models::span::SpanError),
    #[error("{0}")]
    Input(String),
    /// The question has no letters and no language was given.
    #[error("question \"{id}\": cannot detect its language (no letters); give it (--lang, or `lang` in a request)")]
    UndetectableLanguage { id: String },
}
