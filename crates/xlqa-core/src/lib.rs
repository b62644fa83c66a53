//! Shared types of xlqa: languages, documents, passages, questions, hits and
//! answers, plus the readers for the collection and question files.
//!
//! This crate knows nothing about models, indexes or readers; every other
//! crate of the workspace depends on it.

pub mod collection;
pub mod lang;
pub mod progress;
pub mod rng;
pub mod testdata;
pub mod types;

pub use collection::{
    json_kind, parse_documents, read_collection, read_questions, InputError, ReadOptions,
    ReadReport,
};
pub use lang::{Lang, LangError};
pub use rng::SplitMix64;
pub use types::*;
