//! Retrievers: each finds passages for a question on its own; the engine
//! fuses their ranked lists ([`crate::fusion`]).
//!
//! # The contract
//!
//! A [`Retriever`] is a stateless strategy over an opened [`Index`]:
//!
//! * [`Retriever::name`] is its stable name. It selects the retriever
//!   (`--retriever NAME`, [`RetrieverChoice::Only`]), keys its fusion
//!   weight ([`RetrieveOptions::weights`]) and labels its rank and score in
//!   every answer (`"{name}_rank"`, `"{name}_score"` in the JSON).
//! * [`Retriever::needs_vector`] says whether it reads the question's
//!   embedding. The engine then embeds the question once, puts it into the
//!   index's space (de-biasing) and hands it to every retriever and reader
//!   in [`RetrieveQuery::vector`].
//! * [`Retriever::search`] returns at most `depth` hits, best first, with
//!   scores where higher is better (scores of different retrievers need not
//!   be comparable: fusion uses ranks, or normalizes them). It must never
//!   return a passage whose language is in [`RetrieveQuery::exclude`], and
//!   must not panic on any question text.
//!
//! # Adding a retriever
//!
//! Write `retrieve/myretriever.rs` with a type that implements
//! [`Retriever`], and add it to [`registry`]. Nothing else changes: the
//! fusion, the reports, `--retriever myretriever` and `--retriever hybrid`
//! pick it up by name. ARCHITECTURE.md walks through an example.

pub mod bm25;
pub mod dense;

use std::collections::{BTreeMap, HashSet};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use xlqa_core::{Hit, Lang};
use xlqa_index::Index;

use crate::SearchError;

/// What a retriever is asked.
pub struct RetrieveQuery<'a> {
    pub text: &'a str,
    pub lang: &'a Lang,
    /// The question's embedding in the index's space, when any retriever
    /// or the reader needs it.
    pub vector: Option<&'a [f32]>,
    /// Languages whose passages must not be returned.
    pub exclude: &'a HashSet<&'a str>,
    pub options: &'a RetrieveOptions,
}

/// A way of finding passages (see the module documentation for the contract).
pub trait Retriever: Send + Sync {
    /// Stable name: selection, fusion weight, reports.
    fn name(&self) -> &'static str;
    /// True when [`RetrieveQuery::vector`] must be filled in.
    fn needs_vector(&self) -> bool {
        false
    }
    /// At most `depth` hits, best first.
    fn search(
        &self,
        index: &Index,
        q: &RetrieveQuery<'_>,
        depth: usize,
    ) -> Result<Vec<Hit>, SearchError>;
}

/// Every retriever the engine knows, in report order.
pub fn registry() -> Vec<Box<dyn Retriever>> {
    vec![Box::new(dense::Dense), Box::new(bm25::Bm25)]
}

/// Which retrievers answer a question.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum RetrieverChoice {
    /// All registered retrievers, fused (`hybrid`).
    Hybrid,
    /// One retriever by name (`dense`, `bm25`, …).
    Only(String),
}

impl RetrieverChoice {
    pub fn dense() -> Self {
        RetrieverChoice::Only("dense".into())
    }
    pub fn bm25() -> Self {
        RetrieverChoice::Only("bm25".into())
    }
    pub fn as_str(&self) -> &str {
        match self {
            RetrieverChoice::Hybrid => "hybrid",
            RetrieverChoice::Only(n) => n,
        }
    }
    /// Whether the retriever named `name` takes part.
    pub fn includes(&self, name: &str) -> bool {
        match self {
            RetrieverChoice::Hybrid => true,
            RetrieverChoice::Only(n) => n == name,
        }
    }
}

impl FromStr for RetrieverChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let names: Vec<&str> = registry().iter().map(|r| r.name()).collect();
        match s {
            "hybrid" => Ok(RetrieverChoice::Hybrid),
            n if names.contains(&n) => Ok(RetrieverChoice::Only(n.to_string())),
            other => Err(format!(
                "unknown retriever \"{other}\": expected {} or hybrid",
                names.join(", ")
            )),
        }
    }
}

/// In an OpenAPI document a [`RetrieverChoice`] is one of the registered
/// retrievers' names or `hybrid`.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for RetrieverChoice {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let mut names: Vec<String> = registry().iter().map(|r| r.name().to_string()).collect();
        names.push("hybrid".into());
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(names))
            .description(Some("One retriever by name, or hybrid: all of them, fused"))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for RetrieverChoice {}

impl TryFrom<String> for RetrieverChoice {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<RetrieverChoice> for String {
    fn from(c: RetrieverChoice) -> String {
        c.as_str().to_string()
    }
}

/// How ranked lists are combined.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum FusionMethod {
    /// Weighted reciprocal rank fusion.
    Rrf,
    /// Weighted sum of min-max normalized scores.
    Interp,
}

impl FromStr for FusionMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "rrf" => Ok(FusionMethod::Rrf),
            "interp" => Ok(FusionMethod::Interp),
            other => Err(format!(
                "unknown fusion \"{other}\": expected rrf or interp"
            )),
        }
    }
}

/// Retrieval settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct RetrieveOptions {
    pub retriever: RetrieverChoice,
    /// Passages to return.
    pub k: usize,
    /// Candidates taken from each retriever before fusion.
    pub depth: usize,
    pub fusion: FusionMethod,
    /// RRF constant.
    pub rrf_k: f32,
    /// Fusion weight per retriever name (1 when absent).
    pub weights: BTreeMap<String, f32>,
    /// Passages in these languages are never returned.
    pub exclude_langs: Vec<Lang>,
    /// Beam width of the HNSW search when the index has a graph (it is used
    /// only when no language is excluded; raised to `depth` if smaller).
    pub ann_ef: usize,
    /// Use the index's HNSW graph when it has one (else the exact int8 scan).
    pub use_ann: bool,
}

impl RetrieveOptions {
    /// The fusion weight of retriever `name`.
    pub fn weight(&self, name: &str) -> f32 {
        self.weights.get(name).copied().unwrap_or(1.0)
    }
}

impl Default for RetrieveOptions {
    fn default() -> Self {
        RetrieveOptions {
            retriever: RetrieverChoice::Hybrid,
            k: 5,
            depth: 100,
            fusion: FusionMethod::Rrf,
            rrf_k: 60.0,
            weights: BTreeMap::new(),
            exclude_langs: Vec::new(),
            ann_ef: 128,
            use_ann: true,
        }
    }
}
