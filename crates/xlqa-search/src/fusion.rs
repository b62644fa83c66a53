//! Rank fusion of several retrievers' results.

use serde::Serialize;
use std::collections::BTreeMap;
use xlqa_core::Hit;

/// One passage after fusion, with what each retriever said of it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FusedHit {
    pub passage: u32,
    /// The fused score (for a single retriever, that retriever's score).
    pub score: f32,
    /// (1-based rank, score) under the dense retriever, if it found the passage.
    pub dense: Option<(usize, f32)>,
    /// (1-based rank, score) under BM25, if it found the passage.
    pub bm25: Option<(usize, f32)>,
}

/// Reciprocal rank fusion (Cormack et al. 2009), weighted:
/// `score(d) = Σ_r w_r / (k + rank_r(d))`, ranks starting at 1. Passages
/// missing from a list get nothing from it. Ties are broken by passage row
/// so the output is deterministic.
pub fn rrf(
    dense: &[Hit],
    bm25: &[Hit],
    w_dense: f32,
    w_bm25: f32,
    k: f32,
    limit: usize,
) -> Vec<FusedHit> {
    let mut by_row: BTreeMap<u32, FusedHit> = BTreeMap::new();
    for (i, h) in dense.iter().enumerate() {
        let e = by_row.entry(h.passage).or_insert(FusedHit {
            passage: h.passage,
            score: 0.0,
            dense: None,
            bm25: None,
        });
        e.score += w_dense / (k + (i + 1) as f32);
        e.dense = Some((i + 1, h.score));
    }
    for (i, h) in bm25.iter().enumerate() {
        let e = by_row.entry(h.passage).or_insert(FusedHit {
            passage: h.passage,
            score: 0.0,
            dense: None,
            bm25: None,
        });
        e.score += w_bm25 / (k + (i + 1) as f32);
        e.bm25 = Some((i + 1, h.score));
    }
    let mut out: Vec<FusedHit> = by_row.into_values().collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.passage.cmp(&b.passage)));
    out.truncate(limit);
    out
}

/// Wraps a single retriever's list in the fused form.
pub fn single(hits: &[Hit], dense: bool, limit: usize) -> Vec<FusedHit> {
    hits.iter()
        .take(limit)
        .enumerate()
        .map(|(i, h)| FusedHit {
            passage: h.passage,
            score: h.score,
            dense: dense.then_some((i + 1, h.score)),
            bm25: (!dense).then_some((i + 1, h.score)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(rows: &[u32]) -> Vec<Hit> {
        rows.iter()
            .enumerate()
            .map(|(i, &r)| Hit {
                passage: r,
                score: 10.0 - i as f32,
            })
            .collect()
    }

    #[test]
    fn rrf_rewards_agreement() {
        let f = rrf(&hits(&[1, 2, 3]), &hits(&[3, 4, 1]), 1.0, 1.0, 60.0, 10);
        // 1: 1/61 + 1/63 ; 3: 1/63 + 1/61 -> tie, broken by row
        assert_eq!(f[0].passage, 1);
        assert_eq!(f[1].passage, 3);
        assert_eq!(f[0].dense, Some((1, 10.0)));
        assert_eq!(f[0].bm25, Some((3, 8.0)));
        assert!((f[0].score - (1.0 / 61.0 + 1.0 / 63.0)).abs() < 1e-7);
        assert_eq!(f.len(), 4);
        // 2 (dense rank 2) beats 4 (bm25 rank 2) only by tie-break; with a bm25 weight it loses
        let g = rrf(&hits(&[1, 2, 3]), &hits(&[3, 4, 1]), 1.0, 2.0, 60.0, 10);
        let pos = |r: u32| g.iter().position(|h| h.passage == r).unwrap();
        assert!(pos(4) < pos(2));
    }

    #[test]
    fn rrf_weights_zero_ignores_a_list_and_limit_applies() {
        let f = rrf(&hits(&[1, 2]), &hits(&[5, 6]), 1.0, 0.0, 60.0, 2);
        assert_eq!(f.iter().map(|h| h.passage).collect::<Vec<_>>(), vec![1, 2]);
        assert!(rrf(&[], &[], 1.0, 1.0, 60.0, 5).is_empty());
    }

    #[test]
    fn single_keeps_order_and_scores() {
        let s = single(&hits(&[9, 8, 7]), false, 2);
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].bm25, Some((2, 9.0)));
        assert_eq!(s[1].dense, None);
    }
}
