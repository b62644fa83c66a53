//! `GET /v1/index`: what the served index holds and how it was built.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;
use xlqa_index::Manifest;

/// The served index, from its manifest, and what the server can do with it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct IndexSummary {
    /// The index directory.
    pub path: String,
    pub created_by: String,
    pub format_version: u32,
    pub documents: usize,
    /// Passages a search can return.
    pub passages: usize,
    /// Live updates committed since the build (0: as built).
    pub generation: u64,
    /// Passages deleted or replaced by live updates (still in the files
    /// until a rebuild).
    pub deleted_passages: usize,
    /// Passages added by live updates, per language.
    pub added_by_lang: BTreeMap<String, usize>,
    /// Why a rebuild is advisable now (de-biasing fitted on a collection
    /// that has changed much since), if it is.
    pub refit_due: Option<String>,
    /// Passages per language.
    pub passages_by_lang: BTreeMap<String, usize>,
    pub encoder: EncoderSummary,
    /// Language code → the analyzer its BM25 field uses.
    pub analyzers: BTreeMap<String, AnalyzerSummary>,
    /// The de-biasing transform of the dense vectors, if any.
    pub debias: Option<DebiasSummary>,
    /// The approximate dense index (`hnsw`), if one was built.
    pub ann: Option<String>,
    /// Retrievers a request may name (besides `hybrid`).
    pub retrievers: Vec<String>,
    /// Readers a request may name (besides `none`).
    pub readers: Vec<String>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EncoderSummary {
    pub id: String,
    pub dim: usize,
    /// `int8`, `f32` or `q4`.
    pub precision: String,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AnalyzerSummary {
    pub name: String,
    pub description: String,
    /// True when the language has no language-specific rules.
    pub generic: bool,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DebiasSummary {
    /// `center`, `lir` or `subspace`.
    pub method: String,
    /// Vectors the transform was fitted on, per language.
    pub fitted_per_lang: BTreeMap<String, usize>,
}

impl IndexSummary {
    pub fn new(
        path: &std::path::Path,
        m: &Manifest,
        caps: &crate::api::Capabilities,
        refit_due: Option<String>,
    ) -> IndexSummary {
        IndexSummary {
            path: path.display().to_string(),
            created_by: m.created_by.clone(),
            format_version: m.format_version,
            documents: m.counts.documents,
            passages: m.live_passages(),
            generation: m.generation,
            deleted_passages: m.deleted_rows.len(),
            added_by_lang: m.added_by_lang.clone(),
            refit_due,
            passages_by_lang: m.counts.passages_by_lang.clone(),
            encoder: EncoderSummary {
                id: m.encoder.id.clone(),
                dim: m.encoder.dim,
                precision: m.encoder.precision.clone(),
            },
            analyzers: m
                .analyzers
                .iter()
                .map(|(l, a)| {
                    let s = AnalyzerSummary {
                        name: a.name.clone(),
                        description: a.description.clone(),
                        generic: a.generic,
                    };
                    (l.clone(), s)
                })
                .collect(),
            debias: m.debias.as_ref().map(|d| DebiasSummary {
                method: d.method.to_string(),
                fitted_per_lang: d.counts.clone(),
            }),
            // the graph serves only the index as built
            ann: m
                .ann
                .as_ref()
                .filter(|_| m.generation == 0)
                .map(|a| a.kind.clone()),
            retrievers: caps.retrievers.iter().map(|s| s.to_string()).collect(),
            readers: caps.readers.iter().map(|s| s.to_string()).collect(),
        }
    }
}
