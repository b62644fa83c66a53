//! Retrieval, fusion, reading and the [`Engine`] that answers a question;
//! also the indexing pipeline that turns documents into an index.

pub mod engine;
pub mod fusion;
pub mod indexer;
pub mod reader;

pub use engine::{AskOptions, AskResult, Engine, ReaderKind, RetrieveOptions, RetrieverKind};
pub use indexer::{build_index, BuildReport, IndexOptions};

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
}
