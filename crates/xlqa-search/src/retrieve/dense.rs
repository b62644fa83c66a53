//! Dense retrieval: the question's embedding against every passage vector
//! (exact int8 scan with f32 re-scoring, or the HNSW graph when the index
//! has one and no language is excluded).

use xlqa_core::Hit;
use xlqa_index::Index;

use super::{RetrieveQuery, Retriever};
use crate::SearchError;

/// The dense retriever (`dense`).
pub struct Dense;

impl Retriever for Dense {
    fn name(&self) -> &'static str {
        "dense"
    }

    fn needs_vector(&self) -> bool {
        true
    }

    fn search(
        &self,
        index: &Index,
        q: &RetrieveQuery<'_>,
        depth: usize,
    ) -> Result<Vec<Hit>, SearchError> {
        let v = q.vector.ok_or_else(|| {
            SearchError::Input("dense retrieval needs the question's vector".into())
        })?;
        let store = &index.store;
        let exclude = q.exclude;
        // rows deleted by live updates are never returned
        let keep = |row: usize| {
            index.is_live(row as u32)
                && (exclude.is_empty()
                    || store
                        .get(row as u32)
                        .is_some_and(|p| !exclude.contains(p.lang.as_str())))
        };
        let o = q.options;
        Ok(
            if o.use_ann && exclude.is_empty() && index.dense.has_ann() {
                index
                    .dense
                    .search_approx(v, depth, o.ann_ef.max(depth), &keep)
            } else {
                index.dense.search(v, depth, &keep)
            },
        )
    }
}
