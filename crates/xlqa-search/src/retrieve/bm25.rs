//! BM25 over tantivy, with the question analyzed by its language's
//! analyzer (segmentation, normalization, stemming where available).

use xlqa_core::Hit;
use xlqa_index::Index;
use xlqa_text::analyze::Analyzer;

use super::{RetrieveQuery, Retriever};
use crate::SearchError;

/// The lexical retriever (`bm25`).
pub struct Bm25;

impl Retriever for Bm25 {
    fn name(&self) -> &'static str {
        "bm25"
    }

    fn search(
        &self,
        index: &Index,
        q: &RetrieveQuery<'_>,
        depth: usize,
    ) -> Result<Vec<Hit>, SearchError> {
        let terms: Vec<String> = Analyzer::for_lang(q.lang)
            .analyze(q.text)
            .into_iter()
            .map(|t| t.text)
            .collect();
        let exclude = q.exclude;
        let mut hits = index
            .lexical
            .search(&terms, depth, &|l| !exclude.contains(l))?;
        // tantivy drops deleted rows itself; this keeps any row the index
        // in memory does not hold (yet) out of the results
        hits.retain(|h| index.is_live(h.passage));
        Ok(hits)
    }
}
