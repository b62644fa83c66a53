//! The records that flow through the pipeline.

use crate::Lang;
use serde::{Deserialize, Serialize};

/// Where a language label came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum LangSource {
    /// Given in the input (`lang` field or `--lang`).
    Given,
    /// Found by the language identifier.
    Detected,
}

/// One input document of a collection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Document {
    pub id: String,
    #[serde(default)]
    pub title: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<Lang>,
    /// Documents that say the same thing in different languages share a
    /// group id (e.g. Wikipedia language links); the reader uses it to give
    /// an answer found in one language in the question's language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// A retrieval unit: a DPR-style chunk of one document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Passage {
    /// `{doc_id}#{n}`: unique within an index.
    pub id: String,
    pub doc_id: String,
    pub title: String,
    pub text: String,
    pub lang: Lang,
    pub lang_source: LangSource,
    /// Encoder word-pieces of `title + text` (without special tokens).
    pub n_tokens: u32,
    /// The document's group (see [`Document::group`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// A question to answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Question {
    pub id: String,
    pub question: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<Lang>,
}

/// One retrieved passage with its score under one retriever.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// Row of the passage in the index's passage store.
    pub passage: u32,
    pub score: f32,
}

/// Wall-clock time spent in each stage of answering one question, in ms.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StageTimings {
    pub lang_id_ms: f64,
    pub encode_ms: f64,
    pub dense_ms: f64,
    pub lexical_ms: f64,
    pub fuse_ms: f64,
    pub read_ms: f64,
    pub total_ms: f64,
    /// Retrievers other than dense (`dense_ms`) and BM25 (`lexical_ms`), by name.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub other_retrievers_ms: std::collections::BTreeMap<String, f64>,
}
