//! Per-token character folding applied after normalization and
//! segmentation.
//!
//! Always applied (every analyzer, the generic one included):
//! - decimal digits of any script listed in [`DIGIT_ZEROS`] → ASCII `0-9`
//!   (`٢٠٢٠`, `२०२०`, `๒๐๒๐` all become `2020`);
//! - Arabic harakat / tashkeel (U+064B–U+065F, U+0670) and tatweel (U+0640)
//!   are removed: they are optional in writing in every Arabic-script language;
//! - zero-width joiner / non-joiner, zero-width space, word joiner, soft
//!   hyphen and BOM are removed (rendering hints, not letters);
//! - typographic apostrophes `’` `‘` `ʼ` → `'`;
//! - final sigma `ς` → `σ` (what Unicode case folding does).
//!
//! Language-specific rules are switched on by [`FoldRules`].

/// First code point (digit zero) of every run of ten decimal digits mapped to
/// ASCII.
const DIGIT_ZEROS: &[u32] = &[
    0x0660, // Arabic-Indic
    0x06F0, // Extended Arabic-Indic (Persian, Urdu)
    0x07C0, // NKo
    0x0966, // Devanagari
    0x09E6, // Bengali
    0x0A66, // Gurmukhi
    0x0AE6, // Gujarati
    0x0B66, // Oriya
    0x0BE6, // Tamil
    0x0C66, // Telugu
    0x0CE6, // Kannada
    0x0D66, // Malayalam
    0x0DE6, // Sinhala Lith
    0x0E50, // Thai
    0x0ED0, // Lao
    0x0F20, // Tibetan
    0x1040, // Myanmar
    0x1090, // Myanmar Shan
    0x17E0, // Khmer
    0x1810, // Mongolian
    0x1946, // Limbu
    0x19D0, // New Tai Lue
    0x1A80, // Tai Tham Hora
    0x1A90, // Tai Tham Tham
    0x1B50, // Balinese
    0x1BB0, // Sundanese
    0x1C40, // Lepcha
    0x1C50, // Ol Chiki
    0xA620, // Vai
    0xA8D0, // Saurashtra
    0xA900, // Kayah Li
    0xA9D0, // Javanese
    0xA9F0, // Myanmar Tai Laing
    0xAA50, // Cham
    0xABF0, // Meetei Mayek
];

/// Language-specific folding switched on by the analyzer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FoldRules {
    /// Arabic: hamza-carrying alef forms `أ إ آ ٱ` → `ا`, alef maksura `ى` →
    /// `ي`. (Ta marbuta `ة` is kept for the stemmer, which removes it as a
    /// suffix, and mapped to `ه` by the analyzer afterwards.)
    pub arabic_letters: bool,
    /// Persian / Urdu: alef forms → `ا`, Arabic yeh `ي` and alef maksura `ى` →
    /// Farsi yeh `ی`, Arabic kaf `ك` → keheh `ک`, `ة ۀ ہ ۃ` → `ه`.
    pub perso_arabic_letters: bool,
    /// Greek: tonos / dialytika removed (`ά`→`α`, `ϊ`→`ι`, `ΐ`→`ι`).
    pub greek_accents: bool,
    /// Hebrew: niqqud and cantillation marks (U+0591–U+05C7 points) removed.
    pub hebrew_points: bool,
    /// Devanagari (Hindi, Marathi, Nepali): nukta removed, candrabindu →
    /// anusvara.
    pub devanagari: bool,
    /// Romanian: s/t with cedilla `ş ţ` and with comma below `ș ț` unified
    /// (to the cedilla forms the Snowball stemmer expects).
    pub romanian_cedilla: bool,
    /// Russian / Belarusian: `ё` → `е`.
    pub cyrillic_yo: bool,
}

#[inline]
fn ascii_digit(c: char) -> Option<char> {
    let u = c as u32;
    if u < 0x0660 {
        return None;
    }
    // DIGIT_ZEROS is sorted: the candidate zero is the last one <= u.
    let idx = DIGIT_ZEROS.partition_point(|&z| z <= u);
    let zero = *DIGIT_ZEROS.get(idx.checked_sub(1)?)?;
    let d = u - zero;
    if d < 10 {
        char::from_digit(d, 10)
    } else {
        None
    }
}

#[inline]
fn is_removed(c: char) -> bool {
    matches!(
        c,
        '\u{064B}'
            ..='\u{065F}'
                | '\u{0670}'
                | '\u{0640}'
                | '\u{200B}'
                | '\u{200C}'
                | '\u{200D}'
                | '\u{2060}'
                | '\u{00AD}'
                | '\u{FEFF}'
    )
}

/// Folds one token's text (already NFKC + lowercase).
pub(crate) fn fold(token: &str, rules: &FoldRules, out: &mut String) {
    out.clear();
    if token.is_ascii() {
        out.push_str(token);
        return;
    }
    for c in token.chars() {
        if is_removed(c) {
            continue;
        }
        if let Some(d) = ascii_digit(c) {
            out.push(d);
            continue;
        }
        let c = match c {
            '\u{2019}' | '\u{2018}' | '\u{02BC}' => '\'',
            'ς' => 'σ',
            _ => c,
        };
        if rules.arabic_letters {
            match c {
                'أ' | 'إ' | 'آ' | 'ٱ' => out.push('ا'),
                'ى' => out.push('ي'),
                _ => out.push(c),
            }
            continue;
        }
        if rules.perso_arabic_letters {
            match c {
                'أ' | 'إ' | 'آ' | 'ٱ' => out.push('ا'),
                'ي' | 'ى' => out.push('ی'),
                'ك' => out.push('ک'),
                'ة' | 'ۀ' | 'ہ' | 'ۃ' => out.push('ه'),
                _ => out.push(c),
            }
            continue;
        }
        if rules.greek_accents {
            match c {
                'ά' => out.push('α'),
                'έ' => out.push('ε'),
                'ή' => out.push('η'),
                'ί' | 'ϊ' | 'ΐ' => out.push('ι'),
                'ό' => out.push('ο'),
                'ύ' | 'ϋ' | 'ΰ' => out.push('υ'),
                'ώ' => out.push('ω'),
                // a lone combining acute / diaeresis left by NFKC
                '\u{0301}' | '\u{0308}' | '\u{0344}' => {}
                _ => out.push(c),
            }
            continue;
        }
        if rules.hebrew_points {
            if matches!(
                c,
                '\u{0591}'
                    ..='\u{05BD}'
                        | '\u{05BF}'
                        | '\u{05C1}'
                        | '\u{05C2}'
                        | '\u{05C4}'
                        | '\u{05C5}'
                        | '\u{05C7}'
            ) {
                continue;
            }
            out.push(c);
            continue;
        }
        if rules.devanagari {
            match c {
                '\u{093C}' => {}
                '\u{0901}' => out.push('\u{0902}'),
                _ => out.push(c),
            }
            continue;
        }
        if rules.romanian_cedilla {
            match c {
                'ș' => out.push('ş'),
                'ț' => out.push('ţ'),
                _ => out.push(c),
            }
            continue;
        }
        if rules.cyrillic_yo && c == 'ё' {
            out.push('е');
            continue;
        }
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str, rules: FoldRules) -> String {
        let mut out = String::new();
        fold(s, &rules, &mut out);
        out
    }

    #[test]
    fn digits_of_many_scripts_become_ascii() {
        let r = FoldRules::default();
        assert_eq!(f("٢٠٢٠", r), "2020");
        assert_eq!(f("۱۳۹۹", r), "1399");
        assert_eq!(f("२०२०", r), "2020");
        assert_eq!(f("๒๕๖๓", r), "2563");
        assert_eq!(f("১৯৭১", r), "1971");
        assert_eq!(f("១២៣", r), "123");
        // not digits: left alone
        assert_eq!(f("ab٪", r), "ab٪");
    }

    #[test]
    fn universal_removals() {
        let r = FoldRules::default();
        assert_eq!(f("كَتَبَ", r), "كتب");
        assert_eq!(f("العـــربية", r), "العربية");
        assert_eq!(f("می\u{200C}خواهم", r), "میخواهم");
        assert_eq!(f("don’t", r), "don't");
        assert_eq!(f("οδος", r), f("οδοσ", r));
        assert_eq!(f("οδος", r), "οδοσ");
    }

    #[test]
    fn arabic_letters() {
        let r = FoldRules {
            arabic_letters: true,
            ..Default::default()
        };
        assert_eq!(f("أحمد", r), "احمد");
        assert_eq!(f("إسلام", r), "اسلام");
        assert_eq!(f("مدرسة", r), "مدرسة");
        assert_eq!(f("مستشفى", r), "مستشفي");
    }

    #[test]
    fn persian_letters() {
        let r = FoldRules {
            perso_arabic_letters: true,
            ..Default::default()
        };
        // Arabic yeh/kaf typed on an Arabic keyboard vs Persian letters
        assert_eq!(f("كتابي", r), f("کتابی", r));
        assert_eq!(f("خانۀ", r), "خانه");
    }

    #[test]
    fn greek_hebrew_devanagari_romanian_russian() {
        let g = FoldRules {
            greek_accents: true,
            ..Default::default()
        };
        assert_eq!(f("αθήνα", g), "αθηνα");
        assert_eq!(f("προϊόν", g), "προιον");
        let h = FoldRules {
            hebrew_points: true,
            ..Default::default()
        };
        assert_eq!(f("שָׁלוֹם", h), "שלום");
        let d = FoldRules {
            devanagari: true,
            ..Default::default()
        };
        // NFKC already decomposed ज़ (U+095B) into ज + nukta
        assert_eq!(f("ज\u{093C}रूर", d), "जरूर");
        assert_eq!(f("हँसना", d), "हंसना");
        let ro = FoldRules {
            romanian_cedilla: true,
            ..Default::default()
        };
        assert_eq!(f("știință", ro), f("ştiinţă", ro));
        let ru = FoldRules {
            cyrillic_yo: true,
            ..Default::default()
        };
        assert_eq!(f("ёлка", ru), "елка");
    }
}
