//! Ranking metrics of one question over a scored candidate pool, with
//! ties handled the way scikit-learn's `average_precision_score` (which the
//! LAReQA evaluation code calls) handles them.
//!
//! **Ties.** Candidates with equal scores form one block that is passed at
//! once: every relevant candidate in it is treated as ranked at the block's
//! last position. So the *rank* of a candidate `r` is the number of pool
//! candidates whose score is `>= score(r)` (itself included), and
//! - AP (LAReQA Eq. 1 for one question) = `1/|R| · Σ_{r∈R} P(r)`, with
//!   `P(r) = |{r' ∈ R : s(r') >= s(r)}| / rank(r)`;
//! - RR = `1 / min_{r∈R} rank(r)`;
//! - Recall@k = `|{r ∈ R : rank(r) <= k}| / |R|`.
//!
//! Without ties these are the textbook definitions. Retrievers that score only
//! part of the pool (BM25 matches, fused top lists) give every other
//! candidate the same lowest score, so they share the last block.
//!
//! The variants of the language-bias diagnostics only remove *relevant*
//! candidates from the pool or restrict the pool to one language, so one pass
//! over the pool per question ([`RankCounts::new`]) serves them all.

/// For every relevant candidate of one question: how many candidates of each
/// language score at least as high.
#[derive(Clone, Debug)]
pub struct RankCounts {
    /// Relevant candidates: (candidate index, language, score).
    pub relevant: Vec<(usize, usize, f32)>,
    /// `ge[i][l]`: candidates of language `l` with score `>=` that of relevant `i`.
    ge: Vec<Vec<u32>>,
}

/// Which part of the pool and which relevant candidates a metric looks at.
#[derive(Clone, Copy, Debug)]
pub struct Variant<'a> {
    /// Relevant candidates (positions in [`RankCounts::relevant`]) removed from the pool.
    pub removed: &'a [usize],
    /// Only candidates of this language are in the pool.
    pub only_lang: Option<usize>,
    /// Only relevant candidates of this language count as correct; the
    /// other relevant candidates are removed from the pool.
    pub only_target_lang: Option<usize>,
}

impl Variant<'_> {
    /// The whole pool, every correct candidate.
    pub const FULL: Variant<'static> = Variant {
        removed: &[],
        only_lang: None,
        only_target_lang: None,
    };
}

/// AP, RR and recall at the cut-offs of one question under one variant.
#[derive(Clone, Debug, PartialEq)]
pub struct QuestionMetrics {
    pub ap: f64,
    pub rr: f64,
    /// Recall at each cut-off asked for.
    pub recall: Vec<f64>,
    /// Number of correct candidates in the (modified) pool.
    pub n_relevant: usize,
}

impl RankCounts {
    /// One pass over the pool: `scores[c]` and `lang_of[c]` for every
    /// candidate `c`; `relevant` lists the correct candidates.
    pub fn new(
        scores: &[f32],
        lang_of: &[usize],
        n_langs: usize,
        relevant: &[usize],
    ) -> RankCounts {
        let rel: Vec<(usize, usize, f32)> = relevant
            .iter()
            .map(|&c| (c, lang_of[c], scores[c]))
            .collect();
        let mut ge = vec![vec![0u32; n_langs]; rel.len()];
        // thresholds in decreasing order: a candidate counts for every
        // relevant whose score it reaches, a prefix of this order
        let mut order: Vec<usize> = (0..rel.len()).collect();
        order.sort_by(|&a, &b| rel[b].2.total_cmp(&rel[a].2));
        let thresholds: Vec<f32> = order.iter().map(|&i| rel[i].2).collect();
        // per language, how many candidates reach threshold position j exactly
        let mut hist = vec![vec![0u32; n_langs]; rel.len()];
        for (c, &s) in scores.iter().enumerate() {
            // first threshold position that s reaches (thresholds decreasing)
            let j = thresholds.partition_point(|&t| t > s);
            if j < thresholds.len() {
                hist[j][lang_of[c]] += 1;
            }
        }
        // cumulative over positions: reaching threshold j means reaching all after it
        let mut acc = vec![0u32; n_langs];
        for (j, &i) in order.iter().enumerate() {
            for l in 0..n_langs {
                acc[l] += hist[j][l];
            }
            ge[i].clone_from(&acc);
        }
        RankCounts { relevant: rel, ge }
    }

    /// Positions (in `relevant`) of the correct candidates in language `l`.
    pub fn relevant_in(&self, l: usize) -> Vec<usize> {
        (0..self.relevant.len())
            .filter(|&i| self.relevant[i].1 == l)
            .collect()
    }

    /// The metrics under `v`; `None` when no correct candidate is left.
    pub fn metrics(&self, v: Variant<'_>, cutoffs: &[usize]) -> Option<QuestionMetrics> {
        let in_pool = |i: usize| {
            let l = self.relevant[i].1;
            !v.removed.contains(&i)
                && v.only_lang.is_none_or(|o| o == l)
                && v.only_target_lang.is_none_or(|t| t == l)
        };
        let kept: Vec<usize> = (0..self.relevant.len()).filter(|&i| in_pool(i)).collect();
        if kept.is_empty() {
            return None;
        }
        let mut ap = 0.0;
        let mut best_rank = u64::MAX;
        let mut recall = vec![0usize; cutoffs.len()];
        for &i in &kept {
            let s = self.relevant[i].2;
            let mut rank: u64 = match v.only_lang {
                Some(l) => self.ge[i][l] as u64,
                None => self.ge[i].iter().map(|&n| n as u64).sum(),
            };
            // relevant candidates taken out of the pool no longer count
            for j in 0..self.relevant.len() {
                if !in_pool(j)
                    && self.relevant[j].2 >= s
                    && v.only_lang.is_none_or(|l| l == self.relevant[j].1)
                {
                    rank -= 1;
                }
            }
            let rel_ge = kept.iter().filter(|&&j| self.relevant[j].2 >= s).count();
            ap += rel_ge as f64 / rank as f64;
            best_rank = best_rank.min(rank);
            for (n, &k) in recall.iter_mut().zip(cutoffs) {
                if rank <= k as u64 {
                    *n += 1;
                }
            }
        }
        let n = kept.len();
        Some(QuestionMetrics {
            ap: ap / n as f64,
            rr: 1.0 / best_rank as f64,
            recall: recall.iter().map(|&r| r as f64 / n as f64).collect(),
            n_relevant: n,
        })
    }
}

/// The `k` best candidates (indices), best first; equal scores in index order.
pub fn top_k(scores: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    let cmp = |a: &usize, b: &usize| scores[*b].total_cmp(&scores[*a]).then(a.cmp(b));
    if k < idx.len() {
        idx.select_nth_unstable_by(k, cmp);
        idx.truncate(k);
    }
    idx.sort_by(cmp);
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference: sort the pool, walk it block by block (scikit-learn's way).
    fn brute_ap(scores: &[f32], pool: &[usize], relevant: &[usize]) -> f64 {
        let mut p: Vec<usize> = pool.to_vec();
        p.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        let (mut seen, mut hits, mut ap) = (0usize, 0usize, 0.0);
        let mut i = 0;
        while i < p.len() {
            let mut j = i;
            while j < p.len() && scores[p[j]] == scores[p[i]] {
                j += 1;
            }
            let block_rel = p[i..j].iter().filter(|c| relevant.contains(c)).count();
            seen += j - i;
            hits += block_rel;
            ap += block_rel as f64 * hits as f64 / seen as f64;
            i = j;
        }
        ap / relevant.len() as f64
    }

    #[test]
    fn hand_computed_ap_rr_recall() {
        // ranking: c0 (rel) 0.9, c1 0.8, c2 (rel) 0.7, c3 0.6, c4 (rel) 0.5
        // AP = (1/1 + 2/3 + 3/5) / 3 = (1 + 0.6667 + 0.6) / 3 = 0.75556
        let scores = [0.9, 0.8, 0.7, 0.6, 0.5];
        let langs = [0, 0, 1, 1, 1];
        let rc = RankCounts::new(&scores, &langs, 2, &[0, 2, 4]);
        let m = rc.metrics(Variant::FULL, &[1, 3]).unwrap();
        assert!((m.ap - (1.0 + 2.0 / 3.0 + 0.6) / 3.0).abs() < 1e-12);
        assert_eq!(m.rr, 1.0);
        assert_eq!(m.recall, vec![1.0 / 3.0, 2.0 / 3.0]);
        // remove c0 (position 0): pool c1 c2 c3 c4, relevant c2 (rank 2), c4 (rank 4)
        // AP = (1/2 + 2/4) / 2 = 0.5, RR = 1/2
        let m = rc
            .metrics(
                Variant {
                    removed: &[0],
                    ..Variant::FULL
                },
                &[1],
            )
            .unwrap();
        assert_eq!((m.ap, m.rr, m.n_relevant), (0.5, 0.5, 2));
        // only language 1 in the pool: c2 c3 c4 → AP = (1/1 + 2/3)/2
        let m = rc
            .metrics(
                Variant {
                    only_lang: Some(1),
                    ..Variant::FULL
                },
                &[1],
            )
            .unwrap();
        assert!((m.ap - (1.0 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        // only the target of language 0 (c0) counts; c2, c4 leave the pool → RR = 1
        let m = rc
            .metrics(
                Variant {
                    only_target_lang: Some(0),
                    ..Variant::FULL
                },
                &[1],
            )
            .unwrap();
        assert_eq!((m.ap, m.rr), (1.0, 1.0));
        // only the target of language 1 … c2 and c4; c0 leaves: c1 c2 c3 c4 → (1/2 + 2/4)/2
        let m = rc
            .metrics(
                Variant {
                    only_target_lang: Some(1),
                    ..Variant::FULL
                },
                &[1],
            )
            .unwrap();
        assert_eq!(m.ap, 0.5);
        assert!(rc
            .metrics(
                Variant {
                    only_lang: Some(0),
                    only_target_lang: Some(1),
                    removed: &[]
                },
                &[1]
            )
            .is_none());
    }

    #[test]
    fn ties_count_as_one_block() {
        // c0 0.9; c1 (rel), c2, c3 (rel) all 0.5; c4 0.1
        // block {c1,c2,c3} passes at rank 4 with 2 relevant:
        // AP = (2/4 + 2/4)/2 = 0.5 (scikit-learn gives 0.5 too), RR = 1/4, R@3 = 0
        let scores = [0.9, 0.5, 0.5, 0.5, 0.1];
        let rc = RankCounts::new(&scores, &[0; 5], 1, &[1, 3]);
        let m = rc.metrics(Variant::FULL, &[3, 4]).unwrap();
        assert_eq!((m.ap, m.rr), (0.5, 0.25));
        assert_eq!(m.recall, vec![0.0, 1.0]);
        assert_eq!(brute_ap(&scores, &[0, 1, 2, 3, 4], &[1, 3]), 0.5);
    }

    #[test]
    fn matches_a_brute_force_reference_on_random_pools() {
        let mut state = 0x9E3779B97F4A7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..200 {
            let n = 5 + (next() % 40) as usize;
            // coarse scores so that ties happen
            let scores: Vec<f32> = (0..n).map(|_| (next() % 7) as f32 / 7.0).collect();
            let langs: Vec<usize> = (0..n).map(|_| (next() % 3) as usize).collect();
            let mut rel: Vec<usize> = (0..n).filter(|_| next() % 4 == 0).collect();
            if rel.is_empty() {
                rel.push(0);
            }
            let rc = RankCounts::new(&scores, &langs, 3, &rel);
            let all: Vec<usize> = (0..n).collect();
            let m = rc.metrics(Variant::FULL, &[]).unwrap();
            assert!((m.ap - brute_ap(&scores, &all, &rel)).abs() < 1e-12);
            // remove the first relevant from the pool
            let pool: Vec<usize> = all.iter().copied().filter(|&c| c != rel[0]).collect();
            if rel.len() > 1 {
                let m = rc
                    .metrics(
                        Variant {
                            removed: &[0],
                            ..Variant::FULL
                        },
                        &[],
                    )
                    .unwrap();
                assert!((m.ap - brute_ap(&scores, &pool, &rel[1..])).abs() < 1e-12);
            }
            // language-1 pool
            let pool: Vec<usize> = all.iter().copied().filter(|&c| langs[c] == 1).collect();
            let r1: Vec<usize> = rel.iter().copied().filter(|&c| langs[c] == 1).collect();
            match rc.metrics(
                Variant {
                    only_lang: Some(1),
                    ..Variant::FULL
                },
                &[],
            ) {
                Some(m) => assert!((m.ap - brute_ap(&scores, &pool, &r1)).abs() < 1e-12),
                None => assert!(r1.is_empty()),
            }
            // only language-2 targets, the other targets out of the pool
            let r2: Vec<usize> = rel.iter().copied().filter(|&c| langs[c] == 2).collect();
            let pool: Vec<usize> = all
                .iter()
                .copied()
                .filter(|c| !rel.contains(c) || langs[*c] == 2)
                .collect();
            match rc.metrics(
                Variant {
                    only_target_lang: Some(2),
                    ..Variant::FULL
                },
                &[],
            ) {
                Some(m) => assert!((m.ap - brute_ap(&scores, &pool, &r2)).abs() < 1e-12),
                None => assert!(r2.is_empty()),
            }
        }
    }

    #[test]
    fn top_k_orders_best_first_ties_by_index() {
        assert_eq!(top_k(&[0.1, 0.5, 0.5, 0.9], 3), vec![3, 1, 2]);
        assert_eq!(top_k(&[0.1, 0.5], 5), vec![1, 0]);
    }
}
