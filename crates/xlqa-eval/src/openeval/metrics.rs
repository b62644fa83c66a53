//! The per-question metric functions (definitions in [`super`]).

/// Recall@k, nDCG@cut and MRR@cut of one ranked list.
#[derive(Clone, Debug, PartialEq)]
pub struct IrScores {
    /// One value per k, in the order given.
    pub recall: Vec<f64>,
    pub ndcg: f64,
    pub mrr: f64,
}

/// Scores one ranked list. `judged[r]` is the judged unit (passage or
/// document id) matched by the passage at rank r + 1 and its grade, `None`
/// when that passage is not judged; `relevant_grades` are the grades > 0 of
/// every judged unit of the topic. A unit counts only where it first
/// appears. `None` when the topic has no relevant unit.
pub fn ir_scores(
    judged: &[Option<(&str, i64)>],
    relevant_grades: &[i64],
    ks: &[usize],
    cut: usize,
) -> Option<IrScores> {
    let n_rel = relevant_grades.iter().filter(|g| **g > 0).count();
    if n_rel == 0 {
        return None;
    }
    // gain of each rank: the grade at the unit's first appearance, else 0
    let mut seen = std::collections::HashSet::new();
    let gains: Vec<i64> = judged
        .iter()
        .map(|j| match j {
            Some((unit, g)) if seen.insert(*unit) => (*g).max(0),
            _ => 0,
        })
        .collect();
    let recall = ks
        .iter()
        .map(|k| {
            let found = gains.iter().take(*k).filter(|g| **g > 0).count();
            found as f64 / n_rel as f64
        })
        .collect();
    let discount = |r: usize| 1.0 / ((r + 2) as f64).log2(); // rank r + 1
    let dcg: f64 = gains
        .iter()
        .take(cut)
        .enumerate()
        .map(|(r, g)| *g as f64 * discount(r))
        .sum();
    let mut ideal: Vec<i64> = relevant_grades.iter().copied().filter(|g| *g > 0).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(cut)
        .enumerate()
        .map(|(r, g)| *g as f64 * discount(r))
        .sum();
    let mrr = gains
        .iter()
        .take(cut)
        .position(|g| *g > 0)
        .map_or(0.0, |r| 1.0 / (r + 1) as f64);
    Some(IrScores {
        recall,
        ndcg: if idcg > 0.0 { dcg / idcg } else { 0.0 },
        mrr,
    })
}

/// 1 when the first hit (0-based rank) is within the top k, else 0.
pub fn hit_at(first_hit: Option<usize>, k: usize) -> f64 {
    match first_hit {
        Some(r) if r < k => 1.0,
        _ => 0.0,
    }
}

/// How many budget tokens of each ranked passage a budget keeps: the
/// passages are taken in rank order until `budget` tokens are reached (the
/// last one possibly cut). `tokens[i]` is passage i's token count.
pub fn budget_cut(tokens: &[usize], budget: usize) -> Vec<usize> {
    let mut left = budget;
    let mut out = Vec::new();
    for t in tokens {
        if left == 0 {
            break;
        }
        let keep = (*t).min(left);
        out.push(keep);
        left -= keep;
    }
    out
}
