//! BLEU-4 (Papineni et al. 2002) over normalized answer tokens.
//!
//! - n-gram precisions for n = 1..4 with **clipped** counts: a hypothesis
//!   n-gram counts at most as often as it occurs in the reference where it
//!   occurs most (multiple references = the gold aliases);
//! - **brevity penalty** BP = 1 if c > r, else exp(1 − r/c), with c the
//!   hypothesis length and r the **closest** reference length (the shorter
//!   one on a tie, as NIST `mteval` and sacreBLEU);
//! - **corpus BLEU** = BP · exp(¼ Σₙ log(Mₙ/Tₙ)) with c, r, matches Mₙ and
//!   totals Tₙ summed over the corpus before dividing; 0 when some Mₙ = 0 or
//!   c = 0 (no smoothing);
//! - **sentence BLEU** ("BLEU+1", Lin & Och 2004): p₁ = m₁/t₁ and
//!   pₙ = (mₙ+1)/(tₙ+1) for n = 2..4; 0 when m₁ = 0. An empty hypothesis
//!   scores 1 if some reference is empty too (no answer, correctly), else 0.

use std::collections::HashMap;

/// Highest n-gram order.
pub const MAX_N: usize = 4;

/// Sufficient statistics of BLEU for one or more segments.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct BleuStats {
    /// Clipped n-gram matches, n = 1..4.
    pub matches: [u64; MAX_N],
    /// Hypothesis n-grams, n = 1..4.
    pub totals: [u64; MAX_N],
    /// Hypothesis length (tokens).
    pub hyp_len: u64,
    /// Closest reference length.
    pub ref_len: u64,
}

fn ngram_counts(tokens: &[String], n: usize) -> HashMap<&[String], u64> {
    let mut m = HashMap::new();
    if tokens.len() >= n {
        for w in tokens.windows(n) {
            *m.entry(w).or_default() += 1;
        }
    }
    m
}

impl BleuStats {
    /// The statistics of one hypothesis against its references.
    pub fn of(hyp: &[String], refs: &[Vec<String>]) -> BleuStats {
        let c = hyp.len() as u64;
        let r = refs
            .iter()
            .map(|r| r.len() as u64)
            .min_by_key(|&l| (l.abs_diff(c), l))
            .unwrap_or(0);
        let mut s = BleuStats {
            hyp_len: c,
            ref_len: r,
            ..BleuStats::default()
        };
        for n in 1..=MAX_N {
            let h = ngram_counts(hyp, n);
            let mut max_ref: HashMap<&[String], u64> = HashMap::new();
            for r in refs {
                for (g, k) in ngram_counts(r, n) {
                    let e = max_ref.entry(g).or_default();
                    *e = (*e).max(k);
                }
            }
            s.totals[n - 1] = hyp.len().saturating_sub(n - 1) as u64;
            s.matches[n - 1] = h
                .iter()
                .map(|(g, k)| (*k).min(max_ref.get(g).copied().unwrap_or(0)))
                .sum();
        }
        s
    }

    /// Adds another segment's statistics.
    pub fn add(&mut self, o: &BleuStats) {
        for n in 0..MAX_N {
            self.matches[n] += o.matches[n];
            self.totals[n] += o.totals[n];
        }
        self.hyp_len += o.hyp_len;
        self.ref_len += o.ref_len;
    }

    fn brevity_penalty(&self) -> f64 {
        if self.hyp_len > self.ref_len {
            1.0
        } else {
            (1.0 - self.ref_len as f64 / self.hyp_len as f64).exp()
        }
    }

    /// Corpus BLEU in [0, 1] (no smoothing).
    pub fn corpus_bleu(&self) -> f64 {
        if self.hyp_len == 0 || self.matches.contains(&0) {
            return 0.0;
        }
        let log_p: f64 = (0..MAX_N)
            .map(|n| (self.matches[n] as f64 / self.totals[n] as f64).ln())
            .sum();
        self.brevity_penalty() * (log_p / MAX_N as f64).exp()
    }
}

/// Sentence BLEU+1 in [0, 1] (see the module documentation).
pub fn sentence_bleu(hyp: &[String], refs: &[Vec<String>]) -> f64 {
    if hyp.is_empty() {
        return if refs.iter().any(|r| r.is_empty()) {
            1.0
        } else {
            0.0
        };
    }
    let s = BleuStats::of(hyp, refs);
    if s.matches[0] == 0 {
        return 0.0;
    }
    let mut log_p = (s.matches[0] as f64 / s.totals[0] as f64).ln();
    for n in 1..MAX_N {
        log_p += ((s.matches[n] as f64 + 1.0) / (s.totals[n] as f64 + 1.0)).ln();
    }
    s.brevity_penalty() * (log_p / MAX_N as f64).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn corpus_bleu_by_hand() {
        // Segment 1: hyp "a b c d e", ref "a b c d e f g": every n-gram of the
        // hypothesis matches (5/5, 4/4, 3/3, 2/2); c = 5, r = 7.
        let s1 = BleuStats::of(&t("a b c d e"), &[t("a b c d e f g")]);
        assert_eq!(s1.matches, [5, 4, 3, 2]);
        assert_eq!(s1.totals, [5, 4, 3, 2]);
        assert_eq!((s1.hyp_len, s1.ref_len), (5, 7));
        // alone: BLEU = BP = exp(1 − 7/5) = exp(−0.4) = 0.670320046
        assert!((s1.corpus_bleu() - (-0.4f64).exp()).abs() < 1e-12);

        // Segment 2: hyp "x y z w", refs "x y z q" (len 4) and "x y" (len 2):
        // closest ref length to c = 4 is 4. Matches: 1-grams x,y,z = 3/4;
        // 2-grams xy,yz = 2/3; 3-grams xyz = 1/2; 4-grams 0/1.
        let s2 = BleuStats::of(&t("x y z w"), &[t("x y z q"), t("x y")]);
        assert_eq!(s2.matches, [3, 2, 1, 0]);
        assert_eq!(s2.totals, [4, 3, 2, 1]);
        assert_eq!(s2.ref_len, 4);
        assert_eq!(s2.corpus_bleu(), 0.0); // a zero 4-gram precision

        // Corpus: M = 8,6,4,2; T = 9,7,5,3; c = 9, r = 11.
        // BLEU = exp(1 − 11/9) · (8/9 · 6/7 · 4/5 · 2/3)^(1/4)
        //      = exp(−2/9) · (0.4063492…)^(1/4) = 0.800737 · 0.798408 = 0.639315
        let mut c = s1;
        c.add(&s2);
        let expected = (-2.0f64 / 9.0).exp()
            * ((8.0f64 / 9.0) * (6.0 / 7.0) * (4.0 / 5.0) * (2.0 / 3.0)).powf(0.25);
        assert!((c.corpus_bleu() - expected).abs() < 1e-12);
        assert!(
            (c.corpus_bleu() - 0.639315).abs() < 1e-6,
            "{}",
            c.corpus_bleu()
        );
    }

    #[test]
    fn clipping_and_closest_reference() {
        // hyp "a a a a" vs ref "a b": 1-gram matches clipped to 1 of 4
        let s = BleuStats::of(&t("a a a a"), &[t("a b")]);
        assert_eq!(s.matches[0], 1);
        // clipping takes the max count over references: "a a" in ref 2
        let s = BleuStats::of(&t("a a a a"), &[t("a b"), t("a a c")]);
        assert_eq!(s.matches[0], 2);
        // hyp length 3, refs of length 2 and 4: a tie, the shorter wins
        let s = BleuStats::of(&t("a b c"), &[t("a b c d"), t("a b")]);
        assert_eq!(s.ref_len, 2);
        // longer than the closest reference: no penalty, p1..p3 = 1, 4-grams 0/0
        // → corpus BLEU 0 (T4 = 0 means M4 = 0)
        assert_eq!(s.corpus_bleu(), 0.0);
    }

    #[test]
    fn sentence_bleu_plus_one_by_hand() {
        // hyp "x y z w" vs refs as above: p1 = 3/4, p2 = (2+1)/(3+1) = 3/4,
        // p3 = (1+1)/(2+1) = 2/3, p4 = (0+1)/(1+1) = 1/2; BP = 1 (c = r = 4
        // → exp(0)). BLEU = (3/4 · 3/4 · 2/3 · 1/2)^(1/4) = 0.1875^(1/4)
        //      = 0.658037
        let b = sentence_bleu(&t("x y z w"), &[t("x y z q"), t("x y")]);
        assert!((b - 0.1875f64.powf(0.25)).abs() < 1e-12);
        assert!((b - 0.658037).abs() < 1e-6);
        // identical one-token answer: p1 = 1, p2..4 = (0+1)/(0+1) = 1 → 1
        assert_eq!(sentence_bleu(&t("paris"), &[t("paris")]), 1.0);
        // hyp "paris" vs ref "paris france": p = 1, BP = exp(1 − 2/1) = e^−1
        let b = sentence_bleu(&t("paris"), &[t("paris france")]);
        assert!((b - (-1.0f64).exp()).abs() < 1e-12);
        // no unigram match → 0; empty hypothesis → 1 only against an empty ref
        assert_eq!(sentence_bleu(&t("rome"), &[t("paris")]), 0.0);
        assert_eq!(sentence_bleu(&[], &[t("paris")]), 0.0);
        assert_eq!(sentence_bleu(&[], &[t("paris"), vec![]]), 1.0);
    }
}
