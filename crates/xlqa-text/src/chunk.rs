//! DPR-style passages: whole sentences packed up to about
//! [`ChunkOptions::target_tokens`] encoder tokens.
//!
//! 1. The text is split into sentences ([`split_sentences`]) and each
//!    sentence is counted once with the [`TokenCounter`].
//! 2. A sentence over the target is cut into `ceil(n / target)` pieces of
//!    about equal length, each cut at the word boundary (ICU word
//!    segmentation, dictionary-based for Thai/Lao/Khmer/Burmese/CJK) nearest
//!    to the ideal point; each piece is counted once, and a piece still over
//!    the target is cut again. A single word longer than the target (a URL, a
//!    long unbroken string) is never cut: it becomes a unit of its own.
//! 3. Units are packed greedily: a unit joins the current chunk while the
//!    chunk's count stays within the target.
//! 4. A trailing chunk under [`ChunkOptions::min_tokens`] is merged into the
//!    chunk before it. A text whose only chunk is under `min_tokens` still
//!    yields that chunk, with its count: the caller decides whether to drop
//!    it.
//!
//! A chunk's `n_tokens` is the sum of the counts of its sentences (or
//! pieces), so the counter is called about once per sentence, never on
//! growing prefixes. The counter should count the text's tokens without the
//! encoder's special tokens (`[CLS]`, `[SEP]`), or those are summed too.

use std::ops::Range;

use xlqa_core::Lang;

use crate::analyze::word_boundaries;
use crate::sentence::split_sentences;

/// Counts encoder tokens (e.g. word pieces) in a text.
pub trait TokenCounter {
    /// Number of tokens of `text`, without special tokens.
    fn count(&self, text: &str) -> usize;
}

impl<F: Fn(&str) -> usize> TokenCounter for F {
    fn count(&self, text: &str) -> usize {
        self(text)
    }
}

/// Chunk sizes, in counter tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkOptions {
    /// Chunks are packed up to this many tokens (DPR: 100).
    pub target_tokens: usize,
    /// A trailing chunk under this many tokens is merged into the previous
    /// one (DPR drops passages under 20 tokens; see the module documentation).
    pub min_tokens: usize,
}

impl Default for ChunkOptions {
    fn default() -> Self {
        ChunkOptions {
            target_tokens: 100,
            min_tokens: 20,
        }
    }
}

/// One passage of a text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// Byte range into the chunked text; starts and ends on non-space
    /// characters.
    pub range: Range<usize>,
    /// Tokens of the chunk: the sum of its sentences' (or pieces') counts.
    pub n_tokens: usize,
}

/// Cuts `text` into passages: byte ranges in order, non-overlapping,
/// together covering all non-space content. Empty (or all-space) text
/// yields no chunk.
pub fn chunk_text(
    text: &str,
    lang: &Lang,
    counter: &dyn TokenCounter,
    opts: &ChunkOptions,
) -> Vec<Chunk> {
    let target = opts.target_tokens.max(1);
    let mut units: Vec<(Range<usize>, usize)> = Vec::new();
    for sentence in split_sentences(text, lang) {
        let n = counter.count(&text[sentence.clone()]);
        if n > target {
            split_long(text, sentence, n, counter, target, &mut units);
        } else {
            units.push((sentence, n));
        }
    }

    let mut chunks: Vec<Chunk> = Vec::new();
    let mut current: Option<Chunk> = None;
    for (range, n) in units {
        match current.as_mut() {
            Some(c) if c.n_tokens + n <= target => {
                c.range.end = range.end;
                c.n_tokens += n;
            }
            _ => {
                if let Some(c) = current.take() {
                    chunks.push(c);
                }
                current = Some(Chunk { range, n_tokens: n });
            }
        }
    }
    if let Some(last) = current {
        match chunks.last_mut() {
            Some(prev) if last.n_tokens < opts.min_tokens => {
                prev.range.end = last.range.end;
                prev.n_tokens += last.n_tokens;
            }
            _ => chunks.push(last),
        }
    }
    chunks
}

/// Cuts the over-long sentence `range` (with `n` tokens) at word boundaries
/// into pieces of at most `target` tokens where possible, pushing
/// `(piece, count)` units in order.
fn split_long(
    text: &str,
    range: Range<usize>,
    n: usize,
    counter: &dyn TokenCounter,
    target: usize,
    units: &mut Vec<(Range<usize>, usize)>,
) {
    let s = &text[range.clone()];
    let bounds = word_boundaries(s);
    // interior boundaries only
    let interior: Vec<usize> = bounds
        .into_iter()
        .filter(|&b| b > 0 && b < s.len())
        .collect();
    if interior.is_empty() || n <= target {
        units.push((range, n));
        return;
    }
    let k = n.div_ceil(target);
    let mut cuts: Vec<usize> = Vec::with_capacity(k);
    for i in 1..k {
        let ideal = s.len() * i / k;
        let j = interior.partition_point(|&b| b < ideal);
        let cand = match (j.checked_sub(1).map(|p| interior[p]), interior.get(j)) {
            (Some(a), Some(&b)) => {
                if ideal - a <= b - ideal {
                    a
                } else {
                    b
                }
            }
            (Some(a), None) => a,
            (None, Some(&b)) => b,
            (None, None) => continue,
        };
        if cuts.last().is_none_or(|&l| cand > l) {
            cuts.push(cand);
        }
    }
    let mut start = 0;
    for end in cuts.into_iter().chain(std::iter::once(s.len())) {
        if let Some(piece) = trim(s, start..end) {
            let abs = range.start + piece.start..range.start + piece.end;
            let m = counter.count(&text[abs.clone()]);
            if m > target && abs.len() < range.len() {
                split_long(text, abs, m, counter, target, units);
            } else {
                units.push((abs, m));
            }
        }
        start = end;
    }
}

fn trim(s: &str, r: Range<usize>) -> Option<Range<usize>> {
    let piece = &s[r.clone()];
    let lead = piece.len() - piece.trim_start().len();
    let t = piece.trim();
    if t.is_empty() {
        None
    } else {
        Some(r.start + lead..r.start + lead + t.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::testdata;
    use std::cell::Cell;

    /// "chars / 4", rounded up: a stand-in for a word-piece counter.
    struct Quarter {
        calls: Cell<usize>,
        chars: Cell<usize>,
    }

    impl Quarter {
        fn new() -> Self {
            Quarter {
                calls: Cell::new(0),
                chars: Cell::new(0),
            }
        }
    }

    impl TokenCounter for Quarter {
        fn count(&self, text: &str) -> usize {
            let c = text.chars().count();
            self.calls.set(self.calls.get() + 1);
            self.chars.set(self.chars.get() + c);
            c.div_ceil(4)
        }
    }

    fn words(text: &str) -> usize {
        text.split_whitespace().count()
    }

    fn check_cover(text: &str, chunks: &[Chunk]) {
        let mut last = 0;
        for c in chunks {
            let r = &c.range;
            assert!(r.start < r.end && r.start >= last, "order/overlap at {r:?}");
            assert!(text.is_char_boundary(r.start) && text.is_char_boundary(r.end));
            assert!(
                text[last..r.start].trim().is_empty(),
                "uncovered {:?}",
                &text[last..r.start]
            );
            let s = &text[r.clone()];
            assert_eq!(s, s.trim());
            last = r.end;
        }
        assert!(text[last..].trim().is_empty());
    }

    fn lang(code: &str) -> Lang {
        Lang::parse(code).unwrap()
    }

    #[test]
    fn packs_whole_sentences() {
        let text = "One two three four five. Six seven eight nine ten. Eleven twelve thirteen fourteen fifteen. Sixteen seventeen eighteen nineteen twenty.";
        let opts = ChunkOptions {
            target_tokens: 10,
            min_tokens: 3,
        };
        let chunks = chunk_text(text, &lang("en"), &words, &opts);
        check_cover(text, &chunks);
        let got: Vec<&str> = chunks.iter().map(|c| &text[c.range.clone()]).collect();
        assert_eq!(
            got,
            [
                "One two three four five. Six seven eight nine ten.",
                "Eleven twelve thirteen fourteen fifteen. Sixteen seventeen eighteen nineteen twenty."
            ]
        );
        assert_eq!(chunks[0].n_tokens, 10);
    }

    #[test]
    fn long_sentence_cut_at_word_boundaries() {
        let sentence: Vec<String> = (0..250).map(|i| format!("word{i}")).collect();
        let text = sentence.join(" ") + ".";
        let opts = ChunkOptions::default();
        let chunks = chunk_text(&text, &lang("en"), &words, &opts);
        check_cover(&text, &chunks);
        assert!(chunks.len() >= 3, "{}", chunks.len());
        for c in &chunks {
            assert!(c.n_tokens <= 100, "{}", c.n_tokens);
            let s = &text[c.range.clone()];
            // whole words only
            for w in s.split_whitespace() {
                assert!(w.starts_with("word"), "cut inside a word: {w}");
            }
        }
        let total: usize = chunks.iter().map(|c| c.n_tokens).sum();
        assert_eq!(total, 250);
    }

    #[test]
    fn long_thai_and_chinese_sentences_cut_between_words() {
        let th = "ฉันไปโรงเรียนที่กรุงเทพมหานครทุกวัน".repeat(20);
        let zh = "北京是中华人民共和国的首都也是全国的政治中心".repeat(20);
        for (code, text) in [("th", th), ("zh", zh)] {
            let q = Quarter::new();
            let opts = ChunkOptions {
                target_tokens: 40,
                min_tokens: 5,
            };
            let chunks = chunk_text(&text, &lang(code), &q, &opts);
            check_cover(&text, &chunks);
            assert!(chunks.len() >= 3, "{code}: {}", chunks.len());
            let bounds = word_boundaries(&text);
            for c in &chunks {
                assert!(
                    bounds.contains(&c.range.start),
                    "{code}: cut inside a word at {}",
                    c.range.start
                );
                assert!(
                    bounds.contains(&c.range.end),
                    "{code}: cut inside a word at {}",
                    c.range.end
                );
            }
        }
    }

    #[test]
    fn unbreakable_word_stays_whole() {
        let text = "x".repeat(1000);
        let q = Quarter::new();
        let chunks = chunk_text(&text, &lang("en"), &q, &ChunkOptions::default());
        assert_eq!(
            chunks,
            [Chunk {
                range: 0..1000,
                n_tokens: 250
            }]
        );
    }

    #[test]
    fn trailing_small_chunk_is_merged() {
        let text = "A b c d e f g h. I j k l m n o p. Q.";
        let opts = ChunkOptions {
            target_tokens: 8,
            min_tokens: 3,
        };
        let chunks = chunk_text(text, &lang("en"), &words, &opts);
        check_cover(text, &chunks);
        assert_eq!(chunks.len(), 2);
        assert_eq!(&text[chunks[1].range.clone()], "I j k l m n o p. Q.");
        assert_eq!(chunks[1].n_tokens, 9);
    }

    #[test]
    fn short_text_still_yields_its_chunk() {
        let chunks = chunk_text(
            "  Hello there.  ",
            &lang("en"),
            &words,
            &ChunkOptions::default(),
        );
        assert_eq!(
            chunks,
            [Chunk {
                range: 2..14,
                n_tokens: 2
            }]
        );
        assert!(chunk_text(" \n ", &lang("en"), &words, &ChunkOptions::default()).is_empty());
    }

    #[test]
    fn xquad_paragraphs_property() {
        let opts = ChunkOptions {
            target_tokens: 60,
            min_tokens: 12,
        };
        for code in ["en", "de", "ru", "ar", "hi", "th", "zh", "el", "vi", "tr"] {
            let Some(ctx) = testdata::xquad_contexts(code) else {
                return;
            };
            let l = lang(code);
            let mut n_chunks = 0;
            for c in &ctx {
                let q = Quarter::new();
                let chunks = chunk_text(c, &l, &q, &opts);
                check_cover(c, &chunks);
                n_chunks += chunks.len();
                // counting stays linear: each char is counted a few times at most
                let chars = c.chars().count();
                assert!(
                    q.chars.get() <= 3 * chars + 16,
                    "{code}: counted {} chars of {chars}",
                    q.chars.get()
                );
                for (i, ch) in chunks.iter().enumerate() {
                    let last = i + 1 == chunks.len();
                    let exact = Quarter::new().count(&c[ch.range.clone()]);
                    // the summed count is close to a direct count
                    assert!(
                        ch.n_tokens + 2 >= exact / 2 && ch.n_tokens <= exact * 2 + 2,
                        "{code}: {} vs {exact}",
                        ch.n_tokens
                    );
                    if !last {
                        assert!(ch.n_tokens <= opts.target_tokens, "{code}: {}", ch.n_tokens);
                    } else if chunks.len() > 1 {
                        assert!(
                            ch.n_tokens >= opts.min_tokens,
                            "{code}: small tail {}",
                            ch.n_tokens
                        );
                    }
                }
            }
            assert!(
                n_chunks > ctx.len(),
                "{code}: {n_chunks} chunks for {} paragraphs",
                ctx.len()
            );
        }
    }
}
