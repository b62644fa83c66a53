//! Word segmentation back ends, shared process-wide.
//!
//! - ICU4X `WordSegmenter` in dictionary mode: UAX #29 word boundaries for
//!   every script, plus dictionary segmentation of Thai, Lao, Khmer, Burmese
//!   and Chinese/Japanese runs. Built from compiled data, no allocation.
//! - jieba-rs for runs of Han characters in Chinese text, with its default
//!   dictionary loaded once per process.

use std::sync::OnceLock;

use icu_segmenter::{WordSegmenter, WordSegmenterBorrowed};
use jieba_rs::Jieba;

static JIEBA: OnceLock<Jieba> = OnceLock::new();

/// The process-wide jieba instance (default dictionary, loaded on first use).
pub(crate) fn jieba() -> &'static Jieba {
    JIEBA.get_or_init(Jieba::new)
}

/// The ICU word segmenter with all compiled dictionaries (cj, th, lo, km, my).
#[inline]
pub(crate) fn icu_word_segmenter() -> WordSegmenterBorrowed<'static> {
    WordSegmenter::new_dictionary(Default::default())
}

/// True for a segment that holds a letter or a number (punctuation, spaces
/// and symbols are not words). ICU's own word type is not used: it reports
/// "none" for words ending in a combining mark (Hindi `दुनिया`, Arabic
/// `كَتَبَ`).
#[inline]
pub(crate) fn is_word_like(segment: &str) -> bool {
    segment.chars().any(char::is_alphanumeric)
}

/// Calls `f(start, end)` for every word-like ICU segment of `text`, offsets
/// shifted by `base`.
pub(crate) fn icu_words(
    seg: WordSegmenterBorrowed<'static>,
    text: &str,
    base: usize,
    f: &mut impl FnMut(usize, usize),
) {
    let mut prev = 0;
    for b in seg.segment_str(text) {
        if b > prev {
            if is_word_like(&text[prev..b]) {
                f(base + prev, base + b);
            }
            prev = b;
        }
    }
}

/// All segment boundaries of `text` (word and non-word segments), from 0 to
/// `text.len()`: the places where text may be cut without splitting a word.
pub(crate) fn word_boundaries(text: &str) -> Vec<usize> {
    icu_word_segmenter().segment_str(text).collect()
}

/// Han ideographs (the characters jieba segments).
#[inline]
pub(crate) fn is_han(c: char) -> bool {
    matches!(c,
        '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{3134F}' | '\u{3007}')
}

/// Chinese segmentation: maximal runs of Han characters go to jieba (`cut`
/// with HMM for unknown words); everything in between (Latin words, numbers,
/// kana, other scripts) goes to ICU. Calls `f(start, end, is_subword)`; when
/// `search` is set, each jieba word of three or more characters is followed
/// by its two- and three-character substrings that are dictionary words
/// (`is_subword` = true), which is what jieba's `cut_for_search` adds.
pub(crate) fn chinese_words(text: &str, search: bool, f: &mut impl FnMut(usize, usize, bool)) {
    let seg = icu_word_segmenter();
    let mut run_start = 0;
    let mut run_han: Option<bool> = None;
    let flush = |s: usize, e: usize, han: bool, f: &mut dyn FnMut(usize, usize, bool)| {
        if s >= e {
            return;
        }
        if han {
            let run = &text[s..e];
            for tok in jieba().cut(run, true) {
                let (ts, te) = (s + tok.byte_start, s + tok.byte_end);
                f(ts, te, false);
                if search {
                    push_subwords(&text[ts..te], ts, f);
                }
            }
        } else {
            icu_words(seg, &text[s..e], s, &mut |a, b| f(a, b, false));
        }
    };
    for (i, c) in text.char_indices() {
        let han = is_han(c);
        match run_han {
            Some(h) if h == han => {}
            Some(h) => {
                flush(run_start, i, h, f);
                run_start = i;
                run_han = Some(han);
            }
            None => run_han = Some(han),
        }
    }
    if let Some(h) = run_han {
        flush(run_start, text.len(), h, f);
    }
}

fn push_subwords(word: &str, base: usize, f: &mut dyn FnMut(usize, usize, bool)) {
    let offsets: Vec<usize> = word
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(word.len()))
        .collect();
    let n = offsets.len() - 1;
    let jieba = jieba();
    for len in [2usize, 3] {
        if n <= len {
            continue;
        }
        for i in 0..=n - len {
            let (a, b) = (offsets[i], offsets[i + len]);
            if jieba.has_word(&word[a..b]) {
                f(base + a, base + b, true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn icu(text: &str) -> Vec<&str> {
        let mut v = Vec::new();
        icu_words(icu_word_segmenter(), text, 0, &mut |a, b| {
            v.push(&text[a..b])
        });
        v
    }

    #[test]
    fn icu_keeps_combining_marks_and_drops_punctuation() {
        assert_eq!(icu("नमस्ते दुनिया!"), ["नमस्ते", "दुनिया"]);
        assert_eq!(icu("كَتَبَ الطالبُ."), ["كَتَبَ", "الطالبُ"]);
        assert_eq!(icu("Hello, world — 3.14!"), ["Hello", "world", "3.14"]);
    }

    #[test]
    fn chinese_mixes_jieba_and_icu() {
        let text = "我在2008年用iPhone看了Müller的报告";
        let mut v = Vec::new();
        chinese_words(text, false, &mut |a, b, _| v.push(&text[a..b]));
        assert!(v.contains(&"2008"), "{v:?}");
        assert!(v.contains(&"iPhone"), "{v:?}");
        assert!(v.contains(&"Müller"), "{v:?}");
        assert!(v.contains(&"报告"), "{v:?}");
        // in order, non-overlapping
        let mut last = 0;
        for w in &v {
            let p = text[last..].find(w).unwrap() + last;
            last = p + w.len();
        }
    }

    #[test]
    fn search_mode_adds_dictionary_subwords() {
        let text = "中华人民共和国成立";
        let mut subs = Vec::new();
        let mut full = Vec::new();
        chinese_words(text, true, &mut |a, b, sub| {
            if sub {
                subs.push(&text[a..b])
            } else {
                full.push(&text[a..b])
            }
        });
        assert_eq!(full, ["中华人民共和国", "成立"]);
        for w in ["中华", "人民", "共和国"] {
            assert!(subs.contains(&w), "{w} missing from {subs:?}");
        }
    }

    #[test]
    fn boundaries_cover_text() {
        let t = "ภาษาไทยง่ายนิดเดียว hello";
        let b = word_boundaries(t);
        assert_eq!(b.first(), Some(&0));
        assert_eq!(b.last(), Some(&t.len()));
        assert!(b.len() > 4, "{b:?}");
    }
}
