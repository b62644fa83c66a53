//! Cross-lingual word alignment from the encoder's contextual token
//! embeddings (SimAlign's "Argmax": a source and a target piece are aligned
//! when each is the other's most similar), and answer-span projection
//! through it: an answer found in a passage in one language is carried to
//! the same place of a linked passage in another language.

use crate::encoder::{Encoder, ModelError};

/// Layer whose states are used (SimAlign found the middle layers of
/// multilingual encoders align best; layer 8 of 12 for mBERT).
pub const ALIGN_LAYER: usize = 8;

/// Contextual embeddings of a text's pieces (L2-normalized) and the byte span of each.
pub struct TokenEmbeddings {
    pub vectors: Vec<Vec<f32>>,
    pub spans: Vec<(usize, usize)>,
}

/// Embeds `text` as `<s> pieces </s>` and returns the states of the pieces
/// after layer `layer` (pieces past the model's window are dropped).
pub fn token_embeddings(
    enc: &Encoder,
    text: &str,
    layer: usize,
) -> Result<TokenEmbeddings, ModelError> {
    let (mut ids, mut spans) = enc.pieces(text)?;
    let max = enc.options().max_tokens.saturating_sub(2);
    ids.truncate(max);
    spans.truncate(max);
    let (bos, eos, _) = enc.special_ids();
    let mut input = Vec::with_capacity(ids.len() + 2);
    input.push(bos);
    input.extend_from_slice(&ids);
    input.push(eos);
    let (x, _) = enc.hidden_states_ids(&[input], layer)?;
    let rows: Vec<Vec<Vec<f32>>> = x
        .to_dtype(candle_core::DType::F32)
        .and_then(|t| t.to_vec3())
        .map_err(|e| {
            ModelError::Candle(crate::bert::CandleError {
                context: "token embeddings".into(),
                source: Box::new(e),
            })
        })?;
    let vectors = rows
        .into_iter()
        .next()
        .unwrap_or_default()
        .into_iter()
        .skip(1)
        .take(ids.len())
        .map(|mut v| {
            let n = v.iter().map(|a| a * a).sum::<f32>().sqrt().max(1e-12);
            v.iter_mut().for_each(|a| *a /= n);
            v
        })
        .collect();
    Ok(TokenEmbeddings { vectors, spans })
}

/// Cosine similarities of every live source piece to every live target
/// piece (`-inf` where either piece has an empty span).
struct Similarity {
    n: usize,
    m: usize,
    sim: Vec<f32>,
}

impl Similarity {
    fn new(src: &TokenEmbeddings, tgt: &TokenEmbeddings) -> Similarity {
        let (n, m) = (src.vectors.len(), tgt.vectors.len());
        let live = |e: &TokenEmbeddings, i: usize| e.spans[i].0 < e.spans[i].1;
        let mut sim = vec![f32::NEG_INFINITY; n * m];
        for i in (0..n).filter(|&i| live(src, i)) {
            for j in (0..m).filter(|&j| live(tgt, j)) {
                sim[i * m + j] = src.vectors[i]
                    .iter()
                    .zip(&tgt.vectors[j])
                    .map(|(a, b)| a * b)
                    .sum();
            }
        }
        Similarity { n, m, sim }
    }

    fn row_best(&self, i: usize) -> Option<usize> {
        argmax((0..self.m).map(|j| self.sim[i * self.m + j]))
    }

    /// Pairs that are each other's best match.
    fn mutual(&self) -> Vec<(usize, usize)> {
        let col_best: Vec<Option<usize>> = (0..self.m)
            .map(|j| argmax((0..self.n).map(|i| self.sim[i * self.m + j])))
            .collect();
        (0..self.n)
            .filter_map(|i| {
                let j = self.row_best(i)?;
                (col_best[j] == Some(i)).then_some((i, j))
            })
            .collect()
    }

    /// Each source piece of `[a, b]` with its best target piece (not mutual).
    fn forward(&self, (a, b): (usize, usize)) -> Vec<(usize, usize)> {
        (a..=b.min(self.n.saturating_sub(1)))
            .filter_map(|i| self.row_best(i).map(|j| (i, j)))
            .collect()
    }
}

/// Mutual-argmax alignment between `src` and `tgt` pieces; pieces with an
/// empty span (a lone word marker) take no part.
pub fn align_argmax(src: &TokenEmbeddings, tgt: &TokenEmbeddings) -> Vec<(usize, usize)> {
    if src.vectors.is_empty() || tgt.vectors.is_empty() {
        return Vec::new();
    }
    Similarity::new(src, tgt).mutual()
}

fn argmax(it: impl Iterator<Item = f32>) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (k, v) in it.enumerate() {
        if v.is_finite() && best.is_none_or(|(_, b)| v > b) {
            best = Some((k, v));
        }
    }
    best.map(|b| b.0)
}

/// Target pieces `[first, last]` for source pieces `[a, b]`: the extent of
/// the target pieces aligned to them. `None` when none is aligned. When the
/// aligned pieces are scattered (their extent longer than 3× the source
/// plus 4 pieces), the densest cluster that fits that length is taken (most
/// aligned pieces; the earliest on ties).
pub fn project_pieces(
    alignments: &[(usize, usize)],
    (a, b): (usize, usize),
) -> Option<(usize, usize)> {
    let mut hits: Vec<usize> = alignments
        .iter()
        .filter(|(i, _)| *i >= a && *i <= b)
        .map(|&(_, j)| j)
        .collect();
    hits.sort_unstable();
    let (lo, hi) = (*hits.first()?, *hits.last()?);
    let limit = 3 * (b - a + 1) + 4;
    if hi - lo < limit {
        return Some((lo, hi));
    }
    let mut best = (0usize, lo, lo);
    for (k, &start) in hits.iter().enumerate() {
        let inside: Vec<usize> = hits[k..]
            .iter()
            .copied()
            .take_while(|&j| j - start < limit)
            .collect();
        let end = *inside.last().unwrap_or(&start);
        if inside.len() > best.0 {
            best = (inside.len(), start, end);
        }
    }
    Some((best.1, best.2))
}

/// A span carried into another passage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projected {
    /// Byte range in the target passage.
    pub start: usize,
    pub end: usize,
    /// `identical` (the answer's text occurs verbatim) or `alignment`.
    pub method: &'static str,
}

/// Projects the answer `src[start..end]` into `tgt`. Text written the same
/// in both (numbers, dates, many names) is found verbatim; otherwise the
/// span goes through the token alignment. `None` when neither works.
pub fn project_span(
    enc: &Encoder,
    src: &str,
    (start, end): (usize, usize),
    tgt: &str,
) -> Result<Option<Projected>, ModelError> {
    let answer = src.get(start..end).unwrap_or_default().trim();
    if answer.is_empty() {
        return Ok(None);
    }
    if let Some(at) = tgt.find(answer) {
        return Ok(Some(Projected {
            start: at,
            end: at + answer.len(),
            method: "identical",
        }));
    }
    let s = token_embeddings(enc, src, ALIGN_LAYER)?;
    let t = token_embeddings(enc, tgt, ALIGN_LAYER)?;
    let Some(pieces) = crate::span::pieces_covering(&s.spans, start, end) else {
        return Ok(None);
    };
    if s.vectors.is_empty() || t.vectors.is_empty() {
        return Ok(None);
    }
    // mutual argmax first; where it leaves the answer's pieces unaligned,
    // each piece's best match (SimAlign's argmax fallback)
    let sim = Similarity::new(&s, &t);
    let found = project_pieces(&sim.mutual(), pieces)
        .map(|p| (p, "alignment"))
        .or_else(|| project_pieces(&sim.forward(pieces), pieces).map(|p| (p, "alignment-argmax")));
    Ok(found.map(|((lo, hi), method)| {
        let (start, end) = whole_words(tgt, t.spans[lo].0, t.spans[hi].1);
        Projected { start, end, method }
    }))
}

/// Scripts written without spaces between words (a piece boundary there
/// is as good as a word boundary).
fn no_space_script(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0EFF // Thai, Lao
        | 0x1000..=0x109F // Myanmar
        | 0x1780..=0x17FF // Khmer
        | 0x3040..=0x30FF // kana
        | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF) // Han
}

/// Widens `[start, end)` of `text` to whole words where words are separated
/// by spaces: an aligned sub-word piece (`Ó` of `Ópera`) becomes the word.
pub fn whole_words(text: &str, mut start: usize, mut end: usize) -> (usize, usize) {
    let inside = |c: char| c.is_alphanumeric() && !no_space_script(c);
    while let Some(c) = text[..start].chars().next_back() {
        if !inside(c) {
            break;
        }
        start -= c.len_utf8();
    }
    while let Some(c) = text[end..].chars().next() {
        if !inside(c) {
            break;
        }
        end += c.len_utf8();
    }
    (start, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emb(v: &[[f32; 2]]) -> TokenEmbeddings {
        TokenEmbeddings {
            vectors: v
                .iter()
                .map(|x| {
                    let n = (x[0] * x[0] + x[1] * x[1]).sqrt();
                    vec![x[0] / n, x[1] / n]
                })
                .collect(),
            spans: (0..v.len()).map(|i| (i * 2, i * 2 + 1)).collect(),
        }
    }

    #[test]
    fn mutual_argmax_alignment() {
        let s = emb(&[[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]]);
        let t = emb(&[[0.0, 1.0], [1.0, 0.1], [0.9, 0.0]]);
        let al = align_argmax(&s, &t);
        // s0 ↔ t2 (exact direction), s1 ↔ t0; s2 prefers t1 but t1 prefers s0? t1·s0 = 0.995, t1·s2 ≈ 0.77
        assert!(al.contains(&(0, 2)), "{al:?}");
        assert!(al.contains(&(1, 0)), "{al:?}");
        assert!(!al.iter().any(|&(i, _)| i == 2), "{al:?}");
    }

    #[test]
    fn projected_spans_are_widened_to_whole_words_only_where_words_have_spaces() {
        let t = "La Ópera de Sídney";
        let at = t.find('Ó').unwrap();
        assert_eq!(
            whole_words(t, at, at + 'Ó'.len_utf8()),
            (at, at + "Ópera".len())
        );
        let zh = "长城全长约8851公里";
        let i = zh.find('长').unwrap();
        assert_eq!(whole_words(zh, i, i + 3), (i, i + 3));
        assert_eq!(whole_words("abc", 0, 3), (0, 3));
    }

    #[test]
    fn projection_takes_the_extent_or_the_densest_cluster() {
        let al = vec![(0, 5), (1, 6), (2, 3), (4, 30)];
        assert_eq!(project_pieces(&al, (0, 1)), Some((5, 6)));
        assert_eq!(project_pieces(&al, (0, 2)), Some((3, 6)));
        assert_eq!(project_pieces(&al, (3, 3)), None);
        // 3..30 is scattered (limit 3 × 3 + 4 = 13): the cluster is the one piece 3 or 30
        assert_eq!(project_pieces(&al, (2, 4)), Some((3, 3)));
        let al = vec![(0, 2), (1, 40), (2, 41), (3, 43)];
        assert_eq!(
            project_pieces(&al, (0, 3)),
            Some((40, 43)),
            "three of four near 40"
        );
    }

    #[test]
    fn forward_argmax_aligns_what_mutual_argmax_leaves_out() {
        let s = emb(&[[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]]);
        let t = emb(&[[0.0, 1.0], [1.0, 0.1], [0.9, 0.0]]);
        let sim = Similarity::new(&s, &t);
        assert!(!sim.mutual().iter().any(|&(i, _)| i == 2));
        // s2 is closest to t1 (0.77 vs 0.71 to t0 and t2)
        assert_eq!(sim.forward((2, 2)), vec![(2, 1)]);
        assert_eq!(sim.forward((0, 1)).len(), 2);
    }
}
