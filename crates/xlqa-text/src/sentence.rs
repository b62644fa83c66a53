//! Sentence splitting.
//!
//! [`split_sentences`] applies, in order:
//!
//! 1. the ICU4X UAX #29 sentence segmenter, which knows the sentence
//!    terminators of every script (`. ! ?`, Chinese/Japanese `。！？`,
//!    Devanagari `। ॥`, Arabic `؟` and Urdu `۔`, Armenian `։`, Ethiopic `።`,
//!    Burmese `။`, Khmer `។`, …) and breaks after every newline;
//! 2. for Greek (`el`), a break after the Greek question mark `;` (or U+037E)
//!    followed by white space;
//! 3. for text in Thai, Lao, Khmer or Burmese script, which separates
//!    sentences (and clauses) with a space rather than punctuation: a break at
//!    white space between two letters of those scripts when the sentence so
//!    far holds at least [`SEA_MIN_SENTENCE_CHARS`] characters of those
//!    scripts and the next space-free run holds at least
//!    [`SEA_MIN_NEXT_RUN_CHARS`] characters. Spaces around numbers and Latin
//!    words never break, and short runs (a particle, a name part, a
//!    classifier) stay attached, so clauses are not cut into fragments;
//! 4. each piece is trimmed of surrounding white space; empty pieces are
//!    dropped.
//!
//! ICU4X has no abbreviation list: `Dr. Smith` is split after `Dr.`. For
//! chunking (the main user) this is harmless, as sentences are packed again.

use std::ops::Range;

use icu_segmenter::SentenceSegmenter;
use xlqa_core::Lang;

/// Minimum number of Thai/Lao/Khmer/Burmese characters in a sentence before
/// a space may end it (see the module documentation).
pub const SEA_MIN_SENTENCE_CHARS: usize = 50;

/// Minimum length, in characters, of the space-free run after a space for
/// that space to end a Thai/Lao/Khmer/Burmese sentence.
pub const SEA_MIN_NEXT_RUN_CHARS: usize = 4;

/// Byte ranges of the sentences of `text`: in order, non-overlapping,
/// trimmed of surrounding white space, never empty, covering all non-space
/// content of `text`.
pub fn split_sentences(text: &str, lang: &Lang) -> Vec<Range<usize>> {
    let greek = lang.primary() == "el";
    let mut out = Vec::new();
    let seg = SentenceSegmenter::new(Default::default());
    let mut prev = 0;
    for b in seg.segment_str(text) {
        if b <= prev {
            continue;
        }
        let piece = prev..b;
        prev = b;
        for piece in split_newlines(text, piece) {
            let pieces = if greek {
                split_greek_question(text, piece)
            } else {
                vec![piece]
            };
            for piece in pieces {
                for piece in split_sea_spaces(text, piece) {
                    if let Some(r) = trim(text, piece) {
                        out.push(r);
                    }
                }
            }
        }
    }
    out
}

fn is_newline(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{0085}' | '\u{2028}' | '\u{2029}' | '\u{000B}' | '\u{000C}'
    )
}

/// Splits after every newline (ICU already does; this keeps the guarantee
/// independent of the segmenter's data).
fn split_newlines(text: &str, r: Range<usize>) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = r.start;
    for (i, c) in text[r.clone()].char_indices() {
        if is_newline(c) {
            let end = r.start + i + c.len_utf8();
            out.push(start..end);
            start = end;
        }
    }
    if start < r.end {
        out.push(start..r.end);
    }
    out
}

/// Greek: `;` is the question mark.
fn split_greek_question(text: &str, r: Range<usize>) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = r.start;
    let s = &text[r.clone()];
    let mut iter = s.char_indices().peekable();
    while let Some((_, c)) = iter.next() {
        if c != ';' && c != '\u{037E}' {
            continue;
        }
        // closing quotes/brackets stay with the question
        while let Some(&(_, d)) = iter.peek() {
            if matches!(d, '"' | '\'' | '»' | '”' | '’' | ')' | ']') {
                iter.next();
            } else {
                break;
            }
        }
        if let Some(&(j, d)) = iter.peek() {
            if d.is_whitespace() {
                let end = r.start + j;
                out.push(start..end);
                start = end;
            }
        }
    }
    if start < r.end {
        out.push(start..r.end);
    }
    out
}

/// Thai, Lao, Khmer and Burmese (Myanmar) script letters and marks.
pub(crate) fn is_sea_script(c: char) -> bool {
    matches!(c,
        '\u{0E01}'..='\u{0E4E}'          // Thai (without digits)
        | '\u{0E81}'..='\u{0ECE}'        // Lao (without digits)
        | '\u{0EDC}'..='\u{0EDF}'
        | '\u{1780}'..='\u{17D3}'        // Khmer letters and signs
        | '\u{19E0}'..='\u{19FF}'        // Khmer symbols
        | '\u{1000}'..='\u{103F}'        // Myanmar (without digits and punctuation)
        | '\u{1050}'..='\u{108F}'
        | '\u{109A}'..='\u{109D}'
        | '\u{A9E0}'..='\u{A9FE}'        // Myanmar Extended-B
        | '\u{AA60}'..='\u{AA7F}') // Myanmar Extended-A
}

/// Rule 3 of the module documentation.
fn split_sea_spaces(text: &str, r: Range<usize>) -> Vec<Range<usize>> {
    let s = &text[r.clone()];
    if !s.chars().any(is_sea_script) {
        return vec![r];
    }
    let mut out = Vec::new();
    let mut start = r.start;
    let mut sea_count = 0usize;
    let mut prev_char: Option<char> = None;
    let mut iter = s.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if !c.is_whitespace() {
            if is_sea_script(c) {
                sea_count += 1;
            }
            prev_char = Some(c);
            continue;
        }
        // a whitespace run starting at i
        let mut j = i + c.len_utf8();
        while let Some(&(k, d)) = iter.peek() {
            if d.is_whitespace() {
                iter.next();
                j = k + d.len_utf8();
            } else {
                break;
            }
        }
        let before_sea = prev_char.is_some_and(is_sea_script);
        let next_run = s[j..].split(char::is_whitespace).next().unwrap_or("");
        let after_sea = next_run.chars().next().is_some_and(is_sea_script);
        if before_sea
            && after_sea
            && sea_count >= SEA_MIN_SENTENCE_CHARS
            && next_run.chars().count() >= SEA_MIN_NEXT_RUN_CHARS
        {
            out.push(start..r.start + j);
            start = r.start + j;
            sea_count = 0;
        }
        prev_char = Some(c);
    }
    if start < r.end {
        out.push(start..r.end);
    }
    out
}

/// Trims white space from both ends; `None` when
/// nothing is left.
fn trim(text: &str, r: Range<usize>) -> Option<Range<usize>> {
    let s = &text[r.clone()];
    let is_space = |c: char| c.is_whitespace();
    let lead = s.len() - s.trim_start_matches(is_space).len();
    let trimmed = s.trim_matches(is_space);
    if trimmed.is_empty() {
        return None;
    }
    Some(r.start + lead..r.start + lead + trimmed.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::testdata;

    fn split(code: &str, text: &str) -> Vec<String> {
        let lang = Lang::parse(code).unwrap();
        let ranges = split_sentences(text, &lang);
        check_invariants(text, &ranges);
        ranges.into_iter().map(|r| text[r].to_string()).collect()
    }

    /// In order, non-overlapping, trimmed, non-empty, covering all
    /// non-space content.
    pub(crate) fn check_invariants(text: &str, ranges: &[Range<usize>]) {
        let mut last = 0;
        for r in ranges {
            assert!(r.start < r.end, "empty range {r:?}");
            assert!(r.start >= last, "overlap/out of order at {r:?}");
            assert!(text.is_char_boundary(r.start) && text.is_char_boundary(r.end));
            let s = &text[r.clone()];
            assert_eq!(s, s.trim(), "not trimmed: {s:?}");
            assert!(
                text[last..r.start].trim().is_empty(),
                "uncovered: {:?}",
                &text[last..r.start]
            );
            last = r.end;
        }
        assert!(
            text[last..].trim().is_empty(),
            "uncovered tail: {:?}",
            &text[last..]
        );
    }

    #[test]
    fn latin_punctuation_and_newlines() {
        assert_eq!(
            split("en", "The cat sat on the mat. Did it?  Yes!\nA new line without a stop\nand another one."),
            [
                "The cat sat on the mat.",
                "Did it?",
                "Yes!",
                "A new line without a stop",
                "and another one."
            ]
        );
        assert!(split("en", "   \n\t ").is_empty());
        assert!(split("en", "").is_empty());
        assert_eq!(
            split("de", "  Nur ein Satz ohne Punkt  "),
            ["Nur ein Satz ohne Punkt"]
        );
    }

    #[test]
    fn cjk_terminators() {
        assert_eq!(
            split(
                "zh",
                "北京是中国的首都。上海是最大的城市！你去过吗？我去过。"
            ),
            [
                "北京是中国的首都。",
                "上海是最大的城市！",
                "你去过吗？",
                "我去过。"
            ]
        );
        assert_eq!(
            split("ja", "今日は晴れです。明日は雨でしょう。"),
            ["今日は晴れです。", "明日は雨でしょう。"]
        );
    }

    #[test]
    fn indic_arabic_armenian_terminators() {
        assert_eq!(
            split("hi", "भारत एक विशाल देश है। इसकी राजधानी नई दिल्ली है।"),
            ["भारत एक विशाल देश है।", "इसकी राजधानी नई दिल्ली है।"]
        );
        assert_eq!(
            split("bn", "আমি ভাত খাই। তুমি কী খাও?"),
            ["আমি ভাত খাই।", "তুমি কী খাও?"]
        );
        assert_eq!(
            split("ar", "هل تتكلم العربية؟ نعم، أتكلمها جيدا."),
            ["هل تتكلم العربية؟", "نعم، أتكلمها جيدا."]
        );
        assert_eq!(
            split("ur", "یہ میری کتاب ہے۔ وہ تمہاری ہے۔"),
            ["یہ میری کتاب ہے۔", "وہ تمہاری ہے۔"]
        );
        assert_eq!(
            split("hy", "Երևանը Հայաստանի մայրաքաղաքն է։ Այն հին քաղաք է։"),
            ["Երևանը Հայաստանի մայրաքաղաքն է։", "Այն հին քաղաք է։"]
        );
        assert_eq!(split("am", "ሰላም ነው። እንዴት ነህ?"), ["ሰላም ነው።", "እንዴት ነህ?"]);
    }

    #[test]
    fn greek_question_mark() {
        assert_eq!(
            split("el", "Πού είναι η Αθήνα; Είναι στην Ελλάδα."),
            ["Πού είναι η Αθήνα;", "Είναι στην Ελλάδα."]
        );
        assert_eq!(
            split("el", "Τι ώρα είναι\u{037E} Είναι τρεις."),
            ["Τι ώρα είναι\u{037E}", "Είναι τρεις."]
        );
        // in English a semicolon does not end a sentence
        assert_eq!(split("en", "One; two."), ["One; two."]);
    }

    #[test]
    fn thai_sentences_separated_by_spaces() {
        let text = "กรุงเทพมหานครเป็นเมืองหลวงและเมืองที่มีประชากรมากที่สุดของประเทศไทย \
                    เป็นศูนย์กลางการปกครองการศึกษาการคมนาคมขนส่งการเงินการธนาคาร \
                    มีพื้นที่ 1,568 ตารางกิโลเมตร";
        let s = split("th", text);
        assert_eq!(s.len(), 3, "{s:?}");
        assert!(s[0].ends_with("ประเทศไทย"));
        // the spaces around the number do not break
        assert_eq!(s[2], "มีพื้นที่ 1,568 ตารางกิโลเมตร");
        // a short clause does not split off
        let short = "ฉันชอบกินข้าว แต่เขาชอบกินขนมปัง";
        assert_eq!(split("th", short).len(), 1);
    }

    #[test]
    fn khmer_lao_burmese() {
        // Khmer and Burmese have their own full stops
        assert_eq!(
            split("km", "ខ្ញុំចង់ទៅផ្សារ។ គាត់នៅផ្ទះ។"),
            ["ខ្ញុំចង់ទៅផ្សារ។", "គាត់នៅផ្ទះ។"]
        );
        assert_eq!(
            split("my", "ကျွန်တော်ဈေးကိုသွားမယ်။ သူအိမ်မှာနေတယ်။"),
            ["ကျွန်တော်ဈေးကိုသွားမယ်။", "သူအိမ်မှာနေတယ်။"]
        );
        let lo = "ນະຄອນຫຼວງວຽງຈັນແມ່ນນະຄອນຫຼວງຂອງສາທາລະນະລັດປະຊາທິປະໄຕປະຊາຊົນລາວ ແມ່ນເມືອງທີ່ໃຫຍ່ທີ່ສຸດຂອງປະເທດ";
        assert_eq!(split("lo", lo).len(), 2);
    }

    #[test]
    fn xquad_paragraphs_invariants() {
        for code in ["en", "zh", "th", "hi", "ar", "el", "ru"] {
            let Some(ctx) = testdata::xquad_contexts(code) else {
                return;
            };
            let lang = Lang::parse(code).unwrap();
            let mut n = 0;
            for c in &ctx {
                let r = split_sentences(c, &lang);
                check_invariants(c, &r);
                n += r.len();
            }
            // every language: several sentences per paragraph on average
            assert!(
                n >= ctx.len() * 3,
                "{code}: {n} sentences in {} paragraphs",
                ctx.len()
            );
            assert!(
                n <= ctx.len() * 30,
                "{code}: {n} sentences in {} paragraphs",
                ctx.len()
            );
        }
    }
}
