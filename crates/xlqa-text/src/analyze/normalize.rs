//! NFKC + lowercase with a map back to the original byte offsets.
//!
//! The input is cut into *normalization chunks*: a chunk starts at a character
//! that cannot interact with what precedes it under NFKC (a starter whose
//! quick-check value is not `Maybe` and whose compatibility decomposition does
//! not begin with a combining character) and runs up to the next such
//! character. Each chunk is normalized on its own (NFKC, then Unicode
//! lowercase), which gives exactly the NFKC of the whole text, because chunk
//! boundaries are the points where NFKC never composes across.
//!
//! The map is a list of segments. A segment is either *exact* (a run of
//! characters each normalized to one character of the same UTF-8 length, e.g.
//! `A`→`a`, `Д`→`д`), where offsets map one to one, or a single chunk whose
//! output differs in length (`ﬁ`→`fi`, `e`+U+0301→`é`, `Ａ`→`a`), where any
//! offset inside the output maps to the chunk's edges. Either way a mapped
//! offset is always a character boundary of the original text.

use std::sync::OnceLock;

use unicode_normalization::char::{canonical_combining_class, decompose_compatible};
use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// How upper case is lowered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Casing {
    /// Unicode default lowercase mapping.
    Default,
    /// Turkish / Azerbaijani: `I`→`ı`, `İ`→`i`, everything else default.
    Turkic,
}

/// One piece of the offset map; see the module documentation.
#[derive(Clone, Copy, Debug)]
struct Seg {
    /// Start of the piece in the normalized text.
    norm: usize,
    /// Start of the piece in the original text.
    orig: usize,
    /// End of the piece in the original text.
    orig_end: usize,
    /// Offsets map one to one inside the piece.
    exact: bool,
}

/// A normalized text with the map back to the original offsets.
#[derive(Debug)]
pub(crate) struct NormText {
    /// The normalized (NFKC + lowercase) text.
    pub text: String,
    segs: Vec<Seg>,
}

/// True when NFKC can never combine `c` with the character before it, so a
/// normalization chunk may start at `c`.
fn is_chunk_start_slow(c: char) -> bool {
    if c.is_ascii() {
        return true;
    }
    if canonical_combining_class(c) != 0 {
        return false;
    }
    match is_nfkc_quick(std::iter::once(c)) {
        IsNormalized::Yes => true,
        IsNormalized::Maybe => false,
        IsNormalized::No => {
            // e.g. U+FF9E HALFWIDTH KATAKANA VOICED SOUND MARK decomposes to a
            // combining mark that composes with the previous kana.
            let mut first = None;
            decompose_compatible(c, |d| {
                if first.is_none() {
                    first = Some(d);
                }
            });
            match first {
                Some(d) => {
                    canonical_combining_class(d) == 0
                        && is_nfkc_quick(std::iter::once(d)) != IsNormalized::Maybe
                }
                None => true,
            }
        }
    }
}

/// Flag: a normalization chunk may start at this character.
const START: u8 = 1;
/// Flag: a chunk start that NFKC leaves alone and whose default lowercase is
/// one character of the same UTF-8 length (stored in `Tables::lower`).
const SIMPLE: u8 = 2;

/// Per-character answers for the Basic Multilingual Plane, computed once
/// (a few milliseconds): the Unicode look-ups are far slower than an array.
struct Tables {
    flags: Box<[u8]>,
    lower: Box<[u16]>,
}

static TABLES: OnceLock<Tables> = OnceLock::new();

fn tables() -> &'static Tables {
    TABLES.get_or_init(|| {
        let mut flags = vec![0u8; 0x10000].into_boxed_slice();
        let mut lower = vec![0u16; 0x10000].into_boxed_slice();
        for cp in 0..0x10000u32 {
            let Some(c) = char::from_u32(cp) else {
                continue;
            };
            if !is_chunk_start_slow(c) {
                continue;
            }
            flags[cp as usize] = START;
            if c.is_ascii() || is_nfkc_quick(std::iter::once(c)) == IsNormalized::Yes {
                let mut l = c.to_lowercase();
                if let (Some(d), None) = (l.next(), l.next()) {
                    if d.len_utf8() == c.len_utf8() && (d as u32) < 0x10000 {
                        flags[cp as usize] = START | SIMPLE;
                        lower[cp as usize] = d as u16;
                    }
                }
            }
        }
        Tables { flags, lower }
    })
}

#[inline]
fn is_chunk_start(t: &Tables, c: char) -> bool {
    let cp = c as u32;
    if cp < 0x10000 {
        t.flags[cp as usize] & START != 0
    } else {
        is_chunk_start_slow(c)
    }
}

#[inline]
fn push_lower(out: &mut String, c: char, casing: Casing) {
    if c.is_ascii() {
        if casing == Casing::Turkic && c == 'I' {
            out.push('ı');
        } else {
            out.push(c.to_ascii_lowercase());
        }
        return;
    }
    if casing == Casing::Turkic && c == 'İ' {
        out.push('i');
        return;
    }
    for l in c.to_lowercase() {
        out.push(l);
    }
}

impl NormText {
    /// Normalizes `input`: NFKC, then lowercase according to `casing`.
    pub(crate) fn new(input: &str, casing: Casing) -> NormText {
        if input.is_ascii() && (casing == Casing::Default || !input.contains('I')) {
            return NormText {
                text: input.to_ascii_lowercase(),
                segs: vec![Seg {
                    norm: 0,
                    orig: 0,
                    orig_end: input.len(),
                    exact: true,
                }],
            };
        }
        let t = tables();
        let mut out = String::with_capacity(input.len() + input.len() / 8);
        let mut segs: Vec<Seg> = Vec::new();
        let mut iter = input.char_indices().peekable();
        while let Some((start, c)) = iter.next() {
            let mut end = start + c.len_utf8();
            while let Some(&(i, d)) = iter.peek() {
                if is_chunk_start(t, d) {
                    break;
                }
                end = i + d.len_utf8();
                iter.next();
            }
            let norm_start = out.len();
            let single = end - start == c.len_utf8();
            let cp = c as usize;
            let mut exact = false;
            if single
                && cp < 0x10000
                && t.flags[cp] & SIMPLE != 0
                && !(casing == Casing::Turkic && c == 'I')
            {
                // SIMPLE guarantees a valid char of the same length.
                out.push(char::from_u32(u32::from(t.lower[cp])).unwrap_or(c));
                exact = true;
            } else if single
                && (c.is_ascii() || is_nfkc_quick(std::iter::once(c)) == IsNormalized::Yes)
            {
                push_lower(&mut out, c, casing);
                let produced = &out[norm_start..];
                exact = produced.len() == c.len_utf8() && produced.chars().nth(1).is_none();
            } else {
                for d in input[start..end].nfkc() {
                    push_lower(&mut out, d, casing);
                }
            }
            if out.len() == norm_start {
                continue;
            }
            if let Some(last) = segs.last_mut() {
                if exact
                    && last.exact
                    && last.orig_end == start
                    && last.norm + (last.orig_end - last.orig) == norm_start
                {
                    last.orig_end = end;
                    continue;
                }
            }
            segs.push(Seg {
                norm: norm_start,
                orig: start,
                orig_end: end,
                exact,
            });
        }
        NormText { text: out, segs }
    }

    fn seg_at(&self, pos: usize) -> Option<&Seg> {
        let idx = self.segs.partition_point(|s| s.norm <= pos);
        idx.checked_sub(1).map(|i| &self.segs[i])
    }

    /// Original offset of a token starting at `pos` in the normalized text.
    pub(crate) fn orig_start(&self, pos: usize) -> usize {
        match self.seg_at(pos) {
            Some(s) if s.exact => s.orig + (pos - s.norm),
            Some(s) => s.orig,
            None => 0,
        }
    }

    /// Original offset of a token ending (exclusive) at `pos` in the
    /// normalized text.
    pub(crate) fn orig_end(&self, pos: usize) -> usize {
        if pos == 0 {
            return self.orig_start(0);
        }
        match self.seg_at(pos - 1) {
            Some(s) if s.exact => s.orig + (pos - s.norm),
            Some(s) => s.orig_end,
            None => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_map(input: &str, casing: Casing) -> NormText {
        let n = NormText::new(input, casing);
        // Every char boundary of the normalized text maps to a char boundary
        // of the original, monotonically.
        let mut last = 0;
        for (i, _) in n
            .text
            .char_indices()
            .chain(std::iter::once((n.text.len(), ' ')))
        {
            let s = n.orig_start(i);
            assert!(input.is_char_boundary(s), "{input:?} start {i}->{s}");
            assert!(s >= last, "{input:?} not monotonic at {i}");
            last = s;
            if i > 0 {
                let e = n.orig_end(i);
                assert!(input.is_char_boundary(e), "{input:?} end {i}->{e}");
            }
        }
        n
    }

    #[test]
    fn table_fast_path_equals_nfkc_then_lowercase() {
        for cp in 0..0x10000u32 {
            let Some(c) = char::from_u32(cp) else {
                continue;
            };
            let s = format!("a{c}b");
            let expected: String = s.nfkc().flat_map(char::to_lowercase).collect();
            assert_eq!(
                NormText::new(&s, Casing::Default).text,
                expected,
                "U+{cp:04X}"
            );
        }
    }

    #[test]
    fn ascii_fast_path_lowercases() {
        let n = check_map("Hello World 42", Casing::Default);
        assert_eq!(n.text, "hello world 42");
        assert_eq!(n.orig_start(6), 6);
        assert_eq!(n.orig_end(11), 11);
    }

    #[test]
    fn fullwidth_and_ligatures() {
        let input = "Ｔｏｋｙｏ ﬁnance Ⅻ";
        let n = check_map(input, Casing::Default);
        assert_eq!(n.text, "tokyo finance xii");
        // "tokyo" maps back to the five full-width letters.
        assert_eq!(&input[n.orig_start(0)..n.orig_end(5)], "Ｔｏｋｙｏ");
        // "finance" maps back to the ligature word.
        assert_eq!(&input[n.orig_start(6)..n.orig_end(13)], "ﬁnance");
    }

    #[test]
    fn composes_decomposed_accents() {
        let input = "Cafe\u{301} Mu\u{308}ller";
        let n = check_map(input, Casing::Default);
        assert_eq!(n.text, "café müller");
        let m = n.text.find("müller").unwrap();
        assert_eq!(
            &input[n.orig_start(m)..n.orig_end(n.text.len())],
            "Mu\u{308}ller"
        );
    }

    #[test]
    fn halfwidth_katakana_voiced_mark_composes() {
        // ｶﾞｲﾄﾞ (half-width) -> ガイド
        let n = check_map("ｶﾞｲﾄﾞ", Casing::Default);
        assert_eq!(n.text, "ガイド");
    }

    #[test]
    fn turkic_casing() {
        let n = check_map("İSTANBUL Irmak", Casing::Turkic);
        assert_eq!(n.text, "istanbul ırmak");
        let d = check_map("İSTANBUL Irmak", Casing::Default);
        assert_eq!(d.text, "i\u{307}stanbul irmak");
    }

    #[test]
    fn greek_and_cyrillic_lowercase() {
        let n = check_map("ΑΘΗΝΑ Москва", Casing::Default);
        assert_eq!(n.text, "αθηνα москва");
        assert_eq!(n.orig_start(11), 11);
    }
}
