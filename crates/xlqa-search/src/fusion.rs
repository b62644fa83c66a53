//! Fusion of any number of named ranked lists into one.

use serde::ser::{Serialize, SerializeMap, Serializer};
use std::collections::BTreeMap;
use xlqa_core::Hit;

/// One retriever's ranked list and its fusion weight.
pub struct RankedList<'a> {
    pub name: &'static str,
    pub weight: f32,
    pub hits: &'a [Hit],
}

/// Where one retriever ranked a passage.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetrieverRank {
    pub name: &'static str,
    /// 1-based.
    pub rank: usize,
    pub score: f32,
}

/// Every retriever's rank of one passage, serialized as
/// `{"<name>_rank": …, "<name>_score": …}` (flattened into the passage).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ranks(pub Vec<RetrieverRank>);

impl Ranks {
    /// The rank given by retriever `name`.
    pub fn of(&self, name: &str) -> Option<&RetrieverRank> {
        self.0.iter().find(|r| r.name == name)
    }
}

/// In an OpenAPI document [`Ranks`] are numbers named `<retriever>_rank`
/// and `<retriever>_score`.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Ranks {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let mut o = ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "Each retriever that found the passage: <name>_rank (1-based) and <name>_score",
            ));
        for r in crate::retrieve::registry() {
            o = o
                .property(
                    format!("{}_rank", r.name()),
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(1)),
                )
                .property(
                    format!("{}_score", r.name()),
                    ObjectBuilder::new().schema_type(Type::Number),
                );
        }
        o.into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Ranks {}

impl Serialize for Ranks {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len() * 2))?;
        for r in &self.0 {
            m.serialize_entry(&format!("{}_rank", r.name), &r.rank)?;
            m.serialize_entry(&format!("{}_score", r.name), &r.score)?;
        }
        m.end()
    }
}

/// One passage after fusion, with what each retriever said of it.
#[derive(Clone, Debug, PartialEq)]
pub struct FusedHit {
    pub passage: u32,
    /// The fused score (for a single retriever, that retriever's score).
    pub score: f32,
    /// In the order of the lists given to the fusion.
    pub ranks: Ranks,
}

/// Collects per-passage ranks and a fused score from `lists`.
fn fuse(
    lists: &[RankedList<'_>],
    limit: usize,
    // what hit `i` of list `k` adds to its passage's score
    contribution: impl Fn(usize, usize) -> f32,
) -> Vec<FusedHit> {
    let mut by_row: BTreeMap<u32, FusedHit> = BTreeMap::new();
    for (k, l) in lists.iter().enumerate() {
        for (i, h) in l.hits.iter().enumerate() {
            let e = by_row.entry(h.passage).or_insert(FusedHit {
                passage: h.passage,
                score: 0.0,
                ranks: Ranks::default(),
            });
            e.score += contribution(k, i);
            e.ranks.0.push(RetrieverRank {
                name: l.name,
                rank: i + 1,
                score: h.score,
            });
        }
    }
    let mut out: Vec<FusedHit> = by_row.into_values().collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.passage.cmp(&b.passage)));
    out.truncate(limit);
    out
}

/// Reciprocal rank fusion (Cormack et al. 2009), weighted:
/// `score(d) = Σ_r w_r / (k + rank_r(d))`, ranks starting at 1. Passages
/// missing from a list get nothing from it. Ties are broken by passage row
/// so the output is deterministic.
pub fn rrf(lists: &[RankedList<'_>], k: f32, limit: usize) -> Vec<FusedHit> {
    fuse(lists, limit, |li, i| {
        lists[li].weight / (k + (i + 1) as f32)
    })
}

/// Weighted interpolation of min-max normalized scores:
/// `score(d) = Σ_r w_r · (s_r(d) − min_r) / (max_r − min_r)` (a list whose
/// scores are all equal gives 1 to each of its passages).
pub fn interpolate(lists: &[RankedList<'_>], limit: usize) -> Vec<FusedHit> {
    let range: Vec<(f32, f32)> = lists
        .iter()
        .map(|l| {
            let lo = l.hits.iter().map(|h| h.score).fold(f32::INFINITY, f32::min);
            let hi = l
                .hits
                .iter()
                .map(|h| h.score)
                .fold(f32::NEG_INFINITY, f32::max);
            (lo, hi)
        })
        .collect();
    fuse(lists, limit, |li, i| {
        let (l, (lo, hi)) = (&lists[li], range[li]);
        let s = l.hits[i].score;
        let norm = if hi > lo { (s - lo) / (hi - lo) } else { 1.0 };
        l.weight * norm
    })
}

/// Wraps a single retriever's list in the fused form (its own scores kept).
pub fn single(list: &RankedList<'_>, limit: usize) -> Vec<FusedHit> {
    list.hits
        .iter()
        .take(limit)
        .enumerate()
        .map(|(i, h)| FusedHit {
            passage: h.passage,
            score: h.score,
            ranks: Ranks(vec![RetrieverRank {
                name: list.name,
                rank: i + 1,
                score: h.score,
            }]),
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

    fn two<'a>(a: &'a [Hit], b: &'a [Hit], wa: f32, wb: f32) -> [RankedList<'a>; 2] {
        [
            RankedList {
                name: "dense",
                weight: wa,
                hits: a,
            },
            RankedList {
                name: "bm25",
                weight: wb,
                hits: b,
            },
        ]
    }

    #[test]
    fn rrf_rewards_agreement() {
        let (a, b) = (hits(&[1, 2, 3]), hits(&[3, 4, 1]));
        let f = rrf(&two(&a, &b, 1.0, 1.0), 60.0, 10);
        // 1: 1/61 + 1/63 ; 3: 1/63 + 1/61 -> tie, broken by row
        assert_eq!(f[0].passage, 1);
        assert_eq!(f[1].passage, 3);
        assert_eq!(
            f[0].ranks.of("dense").map(|r| (r.rank, r.score)),
            Some((1, 10.0))
        );
        assert_eq!(
            f[0].ranks.of("bm25").map(|r| (r.rank, r.score)),
            Some((3, 8.0))
        );
        assert!((f[0].score - (1.0 / 61.0 + 1.0 / 63.0)).abs() < 1e-7);
        assert_eq!(f.len(), 4);
        // 2 (dense rank 2) beats 4 (bm25 rank 2) only by tie-break; with a bm25 weight it loses
        let g = rrf(&two(&a, &b, 1.0, 2.0), 60.0, 10);
        let pos = |r: u32| g.iter().position(|h| h.passage == r).unwrap();
        assert!(pos(4) < pos(2));
    }

    #[test]
    fn rrf_over_three_lists_and_zero_weights() {
        let (a, b, c) = (hits(&[1, 2]), hits(&[5, 6]), hits(&[6, 9]));
        let three = [
            RankedList {
                name: "x",
                weight: 1.0,
                hits: &a,
            },
            RankedList {
                name: "y",
                weight: 0.0,
                hits: &b,
            },
            RankedList {
                name: "z",
                weight: 1.0,
                hits: &c,
            },
        ];
        let f = rrf(&three, 60.0, 3);
        assert_eq!(
            f.iter().map(|h| h.passage).collect::<Vec<_>>(),
            vec![1, 6, 2]
        );
        assert_eq!(f[1].ranks.0.len(), 2, "6 is ranked by y and z");
        assert!(rrf(&[], 60.0, 5).is_empty());
    }

    #[test]
    fn interpolation_normalizes_each_list() {
        let a = vec![
            Hit {
                passage: 1,
                score: 0.9,
            },
            Hit {
                passage: 2,
                score: 0.5,
            },
        ];
        let b = vec![
            Hit {
                passage: 2,
                score: 30.0,
            },
            Hit {
                passage: 3,
                score: 10.0,
            },
        ];
        let f = interpolate(&two(&a, &b, 1.0, 1.0), 10);
        // 1: 1 + 0 ; 2: 0 + 1 ; 3: 0 → 1 and 2 tie, row order
        assert_eq!(
            f.iter().map(|h| h.passage).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert!((f[0].score - 1.0).abs() < 1e-6 && (f[1].score - 1.0).abs() < 1e-6);
        let g = interpolate(&two(&a, &b, 1.0, 2.0), 10);
        assert_eq!(g[0].passage, 2);
    }

    #[test]
    fn single_keeps_order_scores_and_serializes_by_name() {
        let h = hits(&[9, 8, 7]);
        let s = single(
            &RankedList {
                name: "bm25",
                weight: 1.0,
                hits: &h,
            },
            2,
        );
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].ranks.of("bm25").map(|r| r.rank), Some(2));
        assert!(s[1].ranks.of("dense").is_none());
        let json = serde_json::to_string(&s[1].ranks).unwrap();
        assert_eq!(json, r#"{"bm25_rank":2,"bm25_score":9.0}"#);
    }
}
