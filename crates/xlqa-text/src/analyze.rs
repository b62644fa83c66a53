//! Language-aware text analysis: the terms of the BM25 index and the words of
//! QA token-F1.
//!
//! Every analyzer runs the same pipeline:
//!
//! 1. **normalize** the whole text: NFKC, then Unicode lowercase (Turkish and
//!    Azerbaijani map `I`→`ı`, `İ`→`i`), keeping a map to the original byte
//!    offsets (full-width letters, ligatures, decomposed accents);
//! 2. **segment** it into words (see [`Segmentation`]); segments without a
//!    letter or a number (punctuation, spaces, symbols) are dropped, numbers
//!    are kept (`1,000.5`, `3.14`, `2020`);
//! 3. **fold** each word: digits of every script → ASCII, Arabic harakat and
//!    tatweel, zero-width (non-)joiners and soft hyphens removed, typographic
//!    apostrophes → `'`, final sigma → `σ`, plus the language's own rules
//!    (Arabic alef/ya/ta-marbuta forms, Persian/Urdu yeh/kaf/heh, Greek
//!    accents, Hebrew points, Devanagari nukta/candrabindu, Romanian
//!    cedilla/comma, Russian `ё`);
//! 4. **stem** (only [`Analyzer::analyze`], not [`Analyzer::words`]): French
//!    and Italian elided articles (`l'`, `dell'`) and Turkish suffixes after
//!    an apostrophe (`İstanbul'da`) are removed, Korean particles are
//!    stripped (see `analyze/korean.rs`), then the Snowball stemmer runs where
//!    one exists.
//!
//! Languages without specific rules get the **generic** analyzer: steps 1–3
//! with no language rule and no stemmer. Its segmentation is still
//! script-aware (ICU dictionaries for Thai, Lao, Khmer, Burmese, Chinese and
//! Japanese runs, UAX #29 elsewhere). In particular Ukrainian, Bulgarian and
//! the other Cyrillic languages except Russian are generic on purpose: the
//! Russian stemmer would mangle them and rust-stemmers has none for them.
//! Vietnamese is generic too (UAX #29 gives syllables, which is what BM25 on
//! Vietnamese usually indexes).
//!
//! Token offsets are byte offsets into the original input. A term that comes
//! from one character expanding into several (`㍻`→`平成`) maps to that
//! character's whole range, so two tokens may then share an original range.

mod fold;
mod korean;
mod normalize;
mod segment;
#[cfg(test)]
pub(crate) mod testdata;

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use rust_stemmers::{Algorithm, Stemmer};
use serde::{Deserialize, Serialize};
use xlqa_core::Lang;

use fold::FoldRules;
use normalize::{Casing, NormText};

pub(crate) use segment::word_boundaries;

/// Terms longer than this (in bytes, after folding) are not indexed by
/// [`Analyzer::analyze`]: they are base64 blobs, URLs or garbage, and tantivy
/// rejects terms over 64 KiB.
pub const MAX_TERM_BYTES: usize = 255;

/// One term or word with its place in the original text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    /// The normalized (and, for [`Analyzer::analyze`], stemmed) text.
    pub text: String,
    /// Byte offset of the start of the word in the original input.
    pub start: usize,
    /// Byte offset just past the end of the word in the original input.
    pub end: usize,
    /// Word position: consecutive words get consecutive positions; Chinese
    /// dictionary sub-words share the position of the word they are part of.
    pub position: usize,
}

/// How an analyzer cuts text into words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Segmentation {
    /// Han runs segmented by jieba-rs (dictionary + HMM for unknown words);
    /// everything else (Latin words, numbers, kana) by ICU.
    Jieba,
    /// ICU4X word segmenter in dictionary mode (Japanese, Thai, Lao, Khmer,
    /// Burmese).
    IcuDictionary,
    /// UAX #29 word boundaries (runs of the scripts above inside such text
    /// still get ICU's dictionaries).
    UnicodeWords,
    /// UAX #29 words (Korean eojeol); `analyze` strips trailing particles.
    Hangul,
}

impl Segmentation {
    fn describe(self) -> &'static str {
        match self {
            Segmentation::Jieba => "jieba segmentation (analyze: + dictionary sub-words of long words, as jieba's search mode)",
            Segmentation::IcuDictionary => "ICU dictionary word segmentation",
            Segmentation::UnicodeWords => "unicode words",
            Segmentation::Hangul => "unicode words + Korean particle (josa) stripping",
        }
    }
}

const NO_FOLD: FoldRules = FoldRules {
    arabic_letters: false,
    perso_arabic_letters: false,
    greek_accents: false,
    hebrew_points: false,
    devanagari: false,
    romanian_cedilla: false,
    cyrillic_yo: false,
};

/// The rules of one language (or one group of languages sharing them).
struct Spec {
    codes: &'static [&'static str],
    seg: Segmentation,
    casing: Casing,
    fold: FoldRules,
    fold_note: &'static str,
    stemmer: Option<(Algorithm, &'static str)>,
    /// Elided articles/prepositions removed before the stemmer (`l'homme`).
    elision: &'static [&'static str],
    /// Remove an apostrophe and the suffix after it (`ankara'dan`).
    suffix_apostrophe: bool,
}

/// Unicode words, default casing, no fold rule, no stemmer.
const fn plain(codes: &'static [&'static str]) -> Spec {
    Spec {
        codes,
        seg: Segmentation::UnicodeWords,
        casing: Casing::Default,
        fold: NO_FOLD,
        fold_note: "",
        stemmer: None,
        elision: &[],
        suffix_apostrophe: false,
    }
}

/// [`plain`] plus a Snowball stemmer.
const fn stem(codes: &'static [&'static str], algo: Algorithm, name: &'static str) -> Spec {
    Spec {
        stemmer: Some((algo, name)),
        ..plain(codes)
    }
}

const FRENCH_ELISION: &[&str] = &[
    "l", "m", "t", "qu", "n", "s", "j", "d", "c", "jusqu", "quoiqu", "lorsqu", "puisqu",
];
const ITALIAN_ELISION: &[&str] = &[
    "c", "l", "all", "dall", "dell", "nell", "sull", "coll", "pell", "gl", "agl", "dagl", "degl",
    "negl", "sugl", "un", "m", "t", "s", "v", "d", "quell", "quest", "bell", "sant",
];

/// Every language with specific rules.
static SPECS: &[Spec] = &[
    Spec {
        codes: &["zh", "yue"],
        seg: Segmentation::Jieba,
        ..plain(&[])
    },
    Spec {
        codes: &["ja", "th", "lo", "km", "my"],
        seg: Segmentation::IcuDictionary,
        ..plain(&[])
    },
    Spec {
        codes: &["ko"],
        seg: Segmentation::Hangul,
        ..plain(&[])
    },
    Spec {
        fold: FoldRules {
            arabic_letters: true,
            ..NO_FOLD
        },
        fold_note: "arabic normalization (tashkeel, tatweel, alef forms → ا, ى → ي; ة → ه after stemming)",
        ..stem(&["ar"], Algorithm::Arabic, "arabic")
    },
    Spec {
        codes: &["fa", "ur"],
        fold: FoldRules {
            perso_arabic_letters: true,
            ..NO_FOLD
        },
        fold_note: "arabic-script normalization (tashkeel, tatweel, ZWNJ, alef forms → ا, ي ى → ی, ك → ک, ة ۀ ہ ۃ → ه)",
        ..plain(&[])
    },
    Spec {
        codes: &["he"],
        fold: FoldRules {
            hebrew_points: true,
            ..NO_FOLD
        },
        fold_note: "niqqud and cantillation removed",
        ..plain(&[])
    },
    Spec {
        codes: &["hi", "mr", "ne"],
        fold: FoldRules {
            devanagari: true,
            ..NO_FOLD
        },
        fold_note: "devanagari normalization (nukta removed, candrabindu → anusvara)",
        ..plain(&[])
    },
    stem(&["ta"], Algorithm::Tamil, "tamil"),
    Spec {
        fold: FoldRules {
            greek_accents: true,
            ..NO_FOLD
        },
        fold_note: "accents removed",
        ..stem(&["el"], Algorithm::Greek, "greek")
    },
    Spec {
        fold: FoldRules {
            cyrillic_yo: true,
            ..NO_FOLD
        },
        fold_note: "ё → е",
        ..stem(&["ru"], Algorithm::Russian, "russian")
    },
    stem(&["da"], Algorithm::Danish, "danish"),
    stem(&["de"], Algorithm::German, "german"),
    stem(&["en"], Algorithm::English, "english"),
    stem(&["es"], Algorithm::Spanish, "spanish"),
    stem(&["fi"], Algorithm::Finnish, "finnish"),
    Spec {
        elision: FRENCH_ELISION,
        fold_note: "elision (l', qu', …) removed",
        ..stem(&["fr"], Algorithm::French, "french")
    },
    stem(&["hu"], Algorithm::Hungarian, "hungarian"),
    Spec {
        elision: ITALIAN_ELISION,
        fold_note: "elision (l', dell', …) removed",
        ..stem(&["it"], Algorithm::Italian, "italian")
    },
    stem(&["nl"], Algorithm::Dutch, "dutch"),
    stem(&["no", "nb", "nn"], Algorithm::Norwegian, "norwegian"),
    stem(&["pt"], Algorithm::Portuguese, "portuguese"),
    Spec {
        fold: FoldRules {
            romanian_cedilla: true,
            ..NO_FOLD
        },
        fold_note: "ș ț (comma) and ş ţ (cedilla) unified",
        ..stem(&["ro"], Algorithm::Romanian, "romanian")
    },
    stem(&["sv"], Algorithm::Swedish, "swedish"),
    Spec {
        casing: Casing::Turkic,
        suffix_apostrophe: true,
        fold_note: "suffix after apostrophe removed (ankara'dan → ankara)",
        ..stem(&["tr"], Algorithm::Turkish, "turkish")
    },
    Spec {
        codes: &["az"],
        casing: Casing::Turkic,
        ..plain(&[])
    },
];

impl Spec {
    fn describe(&self) -> String {
        let mut d = String::from(self.seg.describe());
        d.push_str(" + NFKC + ");
        d.push_str(match self.casing {
            Casing::Default => "lowercase",
            Casing::Turkic => "turkic lowercase (I → ı, İ → i)",
        });
        if !self.fold_note.is_empty() {
            d.push_str(" + ");
            d.push_str(self.fold_note);
        }
        if let Some((_, name)) = self.stemmer {
            d.push_str(" + snowball(");
            d.push_str(name);
            d.push(')');
        }
        d
    }
}

struct Inner {
    name: String,
    describe: String,
    generic: bool,
    seg: Segmentation,
    casing: Casing,
    fold: FoldRules,
    /// The stemmer and the index of its spec (the slot of its stem cache).
    stemmer: Option<(Stemmer, usize)>,
    elision: &'static [&'static str],
    suffix_apostrophe: bool,
}

/// Entries of one thread's stem cache for one language before it is
/// cleared. Word frequencies are Zipfian, so a small cache answers most
/// look-ups; Snowball stemming costs far more than the hash look-up.
const STEM_CACHE_MAX: usize = 100_000;

thread_local! {
    /// Per thread, per spec index: word → stem.
    static STEM_CACHE: RefCell<Vec<HashMap<String, String>>> = const { RefCell::new(Vec::new()) };
}

fn cached_stem(stemmer: &Stemmer, slot: usize, word: &str) -> String {
    STEM_CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.len() <= slot {
            cache.resize_with(slot + 1, HashMap::new);
        }
        let map = &mut cache[slot];
        if let Some(s) = map.get(word) {
            return s.clone();
        }
        let stem = stemmer.stem(word).into_owned();
        if map.len() >= STEM_CACHE_MAX {
            map.clear();
        }
        map.insert(word.to_string(), stem.clone());
        stem
    })
}

/// A per-language analyzer. Cheap to clone and share between threads (an
/// `Arc` inside); the segmenters behind it are process-wide.
#[derive(Clone)]
pub struct Analyzer {
    inner: Arc<Inner>,
}

impl fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Analyzer")
            .field("name", &self.inner.name)
            .field("describe", &self.inner.describe)
            .finish()
    }
}

fn find_spec(primary: &str) -> Option<usize> {
    SPECS.iter().position(|s| s.codes.contains(&primary))
}

impl Analyzer {
    /// The analyzer for `lang` (by its primary subtag: `zh-Hant` → `zh`).
    /// Never fails: a language without specific rules gets the
    /// [generic](Analyzer::generic) analyzer, never another language's rules.
    pub fn for_lang(lang: &Lang) -> Analyzer {
        let primary = lang.primary();
        match find_spec(primary) {
            Some(index) => Analyzer::from_spec(index, primary),
            None => Analyzer::generic(),
        }
    }

    /// The analyzer for text of unknown or unsupported language:
    /// script-aware segmentation, NFKC, lowercase, no stemmer.
    pub fn generic() -> Analyzer {
        Analyzer {
            inner: Arc::new(Inner {
                name: "xlqa-generic".to_string(),
                describe: "unicode words (ICU dictionaries for th/lo/km/my/zh/ja runs) + NFKC + lowercase (no language-specific rules, no stemmer)".to_string(),
                generic: true,
                seg: Segmentation::UnicodeWords,
                casing: Casing::Default,
                fold: NO_FOLD,
                stemmer: None,
                elision: &[],
                suffix_apostrophe: false,
            }),
        }
    }

    fn from_spec(index: usize, primary: &str) -> Analyzer {
        let spec = &SPECS[index];
        if spec.seg == Segmentation::Jieba {
            // Load the dictionary now rather than on the first text.
            segment::jieba();
        }
        Analyzer {
            inner: Arc::new(Inner {
                name: format!("xlqa-{primary}"),
                describe: spec.describe(),
                generic: false,
                seg: spec.seg,
                casing: spec.casing,
                fold: spec.fold,
                stemmer: spec.stemmer.map(|(a, _)| (Stemmer::create(a), index)),
                elision: spec.elision,
                suffix_apostrophe: spec.suffix_apostrophe,
            }),
        }
    }

    /// True when no language-specific rule applies (the generic analyzer).
    pub fn is_generic(&self) -> bool {
        self.inner.generic
    }

    /// Stable identifier, e.g. `xlqa-zh`, `xlqa-de`, `xlqa-generic`: for the
    /// index manifest and the tantivy tokenizer registry.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Human-readable description of the rules, e.g. `unicode words + NFKC +
    /// lowercase + snowball(german)`.
    pub fn describe(&self) -> String {
        self.inner.describe.clone()
    }

    /// How this analyzer segments text.
    pub fn segmentation(&self) -> Segmentation {
        self.inner.seg
    }

    /// Terms to index and to search: normalized, segmented, folded and
    /// stemmed; punctuation dropped; terms over [`MAX_TERM_BYTES`] dropped.
    /// For Chinese, words of three or more characters are followed by their
    /// dictionary sub-words at the same position.
    pub fn analyze(&self, text: &str) -> Vec<Token> {
        self.run(text, true)
    }

    /// Words for QA token-F1: normalized, segmented and folded, not stemmed
    /// (no particle stripping, no elision removal, no Chinese sub-words).
    pub fn words(&self, text: &str) -> Vec<Token> {
        self.run(text, false)
    }

    fn run(&self, text: &str, analyze: bool) -> Vec<Token> {
        let inner = &*self.inner;
        let norm = NormText::new(text, inner.casing);
        let mut out: Vec<Token> = Vec::with_capacity(text.len() / 6 + 1);
        let mut buf = String::new();
        let mut next_pos = 0usize;
        let mut emit = |s: usize, e: usize, sub: bool| {
            fold::fold(&norm.text[s..e], &inner.fold, &mut buf);
            let mut term: Cow<'_, str> = if analyze {
                self.stem(&buf)
            } else {
                Cow::Borrowed(buf.as_str())
            };
            if inner.fold.arabic_letters && term.contains('ة') {
                // after the stemmer, which removes ة as a suffix but not ه
                term = Cow::Owned(term.replace('ة', "ه"));
            }
            if term.is_empty() || (analyze && term.len() > MAX_TERM_BYTES) {
                return;
            }
            let position = if sub && next_pos > 0 {
                next_pos - 1
            } else {
                next_pos += 1;
                next_pos - 1
            };
            out.push(Token {
                text: term.into_owned(),
                start: norm.orig_start(s),
                end: norm.orig_end(e),
                position,
            });
        };
        match inner.seg {
            Segmentation::Jieba => segment::chinese_words(&norm.text, analyze, &mut emit),
            _ => segment::icu_words(segment::icu_word_segmenter(), &norm.text, 0, &mut |a, b| {
                emit(a, b, false)
            }),
        }
        out
    }

    /// Step 4 of the pipeline on one folded word.
    fn stem<'a>(&self, word: &'a str) -> Cow<'a, str> {
        let inner = &*self.inner;
        let mut w = word;
        if let Some(i) = w.find('\'') {
            if !inner.elision.is_empty() && inner.elision.contains(&&w[..i]) {
                w = &w[i + 1..];
            } else if inner.suffix_apostrophe && i > 0 {
                w = &w[..i];
            }
        }
        if inner.seg == Segmentation::Hangul {
            w = korean::strip_particles(w);
        }
        match &inner.stemmer {
            Some((s, slot)) if !w.is_empty() => {
                if w.is_ascii()
                    && w.bytes()
                        .all(|b| b.is_ascii_digit() || b == b'.' || b == b',')
                {
                    // numbers: nothing to stem
                    Cow::Borrowed(w)
                } else {
                    Cow::Owned(cached_stem(s, *slot, w))
                }
            }
            _ => Cow::Borrowed(w),
        }
    }
}

/// Languages with specific rules (primary subtags) and the description of
/// their analyzer, in a stable order; every other language is analyzed by
/// [`Analyzer::generic`].
pub fn supported_languages() -> Vec<(&'static str, String)> {
    SPECS
        .iter()
        .flat_map(|s| {
            let d = s.describe();
            s.codes.iter().map(move |c| (*c, d.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lang(code: &str) -> Lang {
        Lang::parse(code).unwrap()
    }

    fn terms(code: &str, text: &str) -> Vec<String> {
        Analyzer::for_lang(&lang(code))
            .analyze(text)
            .into_iter()
            .map(|t| t.text)
            .collect()
    }

    fn words(code: &str, text: &str) -> Vec<String> {
        Analyzer::for_lang(&lang(code))
            .words(text)
            .into_iter()
            .map(|t| t.text)
            .collect()
    }

    /// Offsets are char boundaries, in order, and cover the source word.
    fn check_offsets(code: &str, text: &str) {
        let a = Analyzer::for_lang(&lang(code));
        for toks in [a.analyze(text), a.words(text)] {
            let mut last_start = 0;
            for t in &toks {
                assert!(t.start < t.end, "{code}: empty range {t:?}");
                assert!(text.is_char_boundary(t.start) && text.is_char_boundary(t.end));
                assert!(t.start >= last_start, "{code}: starts not in order {t:?}");
                last_start = t.start;
            }
        }
    }

    #[test]
    fn chinese_words_and_search_subwords() {
        let text = "中华人民共和国于1949年成立，首都是北京。";
        let w = words("zh", text);
        assert_eq!(
            w,
            [
                "中华人民共和国",
                "于",
                "1949",
                "年",
                "成立",
                "首都",
                "是",
                "北京"
            ]
        );
        let a = Analyzer::for_lang(&lang("zh-Hans"));
        assert_eq!(a.name(), "xlqa-zh");
        assert_eq!(a.segmentation(), Segmentation::Jieba);
        let toks = a.analyze(text);
        let full = toks.iter().find(|t| t.text == "中华人民共和国").unwrap();
        let renmin = toks.iter().find(|t| t.text == "人民").unwrap();
        assert_eq!(renmin.position, full.position);
        assert_eq!(&text[renmin.start..renmin.end], "人民");
        let beijing = toks.iter().find(|t| t.text == "北京").unwrap();
        assert_eq!(beijing.position, 7);
        check_offsets("zh", text);
    }

    #[test]
    fn traditional_chinese_and_cantonese_are_segmented() {
        let w = words("zh-Hant", "台北市是中華民國的首都，人口約兩百五十萬。");
        assert!(w.len() >= 6, "{w:?}");
        assert!(w.iter().any(|x| x.chars().count() >= 2), "{w:?}");
        assert!(
            w.contains(&"台北市".to_string()) || w.contains(&"台北".to_string()),
            "{w:?}"
        );
        let y = words("yue", "香港係一個國際大都會");
        assert!(y.contains(&"香港".to_string()), "{y:?}");
        assert_eq!(
            Analyzer::for_lang(&lang("yue")).segmentation(),
            Segmentation::Jieba
        );
    }

    #[test]
    fn mixed_script_chinese_keeps_latin_and_numbers() {
        let text = "苹果公司在2007年发布了iPhone，Steve Jobs亲自演示了３．５英寸的屏幕。";
        let w = words("zh", text);
        for x in ["苹果公司", "2007", "iphone", "steve", "jobs", "3.5", "屏幕"] {
            assert!(w.contains(&x.to_string()), "{x} missing in {w:?}");
        }
        let a = Analyzer::for_lang(&lang("zh"));
        let t = a.words(text);
        let iphone = t.iter().find(|t| t.text == "iphone").unwrap();
        assert_eq!(&text[iphone.start..iphone.end], "iPhone");
        let num = t.iter().find(|t| t.text == "3.5").unwrap();
        assert_eq!(&text[num.start..num.end], "３．５");
        check_offsets("zh", text);
    }

    #[test]
    fn japanese_uses_dictionary_segmentation() {
        let text = "東京都に住んでいる私は、毎日電車で会社に行きます。";
        let w = words("ja", text);
        assert!(w.len() >= 8, "{w:?}");
        for x in ["東京", "毎日", "電車", "会社"] {
            assert!(w.contains(&x.to_string()), "{x} missing in {w:?}");
        }
        // Half-width katakana is NFKC-normalized.
        let k = words("ja", "ｺﾝﾋﾟｭｰﾀｰを使う");
        assert!(k.contains(&"コンピューター".to_string()), "{k:?}");
        check_offsets("ja", text);
    }

    fn assert_real_words(code: &str, text: &str, expected: &[&str]) {
        let w = words(code, text);
        assert!(w.len() >= 3, "{code}: too few words {w:?}");
        assert!(
            w.iter().any(|x| x.chars().count() >= 3),
            "{code}: only single chars {w:?}"
        );
        for x in expected {
            assert!(w.contains(&x.to_string()), "{code}: {x} missing in {w:?}");
        }
        check_offsets(code, text);
    }

    #[test]
    fn southeast_asian_scripts_split_into_words() {
        assert_real_words(
            "th",
            "ฉันไปโรงเรียนที่กรุงเทพมหานครทุกวัน",
            &["ฉัน", "ไป", "โรงเรียน"],
        );
        assert_real_words("lo", "ຂ້ອຍຢາກໄປຕະຫຼາດມື້ອື່ນ", &["ຂ້ອຍ", "ຢາກ", "ໄປ"]);
        assert_real_words("km", "ខ្ញុំចង់ទៅផ្សារនៅថ្ងៃស្អែក", &["ខ្ញុំ", "ផ្សារ"]);
        assert_real_words("my", "ကျွန်တော်ဈေးကိုသွားချင်ပါတယ်", &["ဈေး", "ကို", "သွား"]);
        for code in ["th", "lo", "km", "my"] {
            assert_eq!(
                Analyzer::for_lang(&lang(code)).segmentation(),
                Segmentation::IcuDictionary
            );
        }
        // Thai digits become ASCII.
        assert!(words("th", "ปี ๒๕๖๓ มี").contains(&"2563".to_string()));
    }

    #[test]
    fn korean_particles_share_a_term() {
        let a = Analyzer::for_lang(&lang("ko"));
        let t = a.analyze("서울에서 만나요. 서울은 크다. 서울 사람");
        let seoul: Vec<_> = t.iter().filter(|t| t.text == "서울").collect();
        assert_eq!(seoul.len(), 3, "{t:?}");
        // words() keeps the surface forms
        let w = words("ko", "서울에서 만나요");
        assert_eq!(w, ["서울에서", "만나요"]);
        check_offsets("ko", "서울에서 만나요. 서울은 크다.");
    }

    #[test]
    fn arabic_normalization_and_stemming() {
        // with and without tashkeel, tatweel and hamza forms: same terms
        let a = terms("ar", "ذَهَبَ أحمدُ إلى المدرسة");
        let b = terms("ar", "ذهب احمد الى المدرســة");
        assert_eq!(a, b);
        // stemmer: article and plural/feminine suffixes
        assert_eq!(terms("ar", "المدرسة")[0], terms("ar", "مدرسة")[0]);
        assert_eq!(terms("ar", "مكتبة")[0], terms("ar", "مكتبه")[0]);
        // words(): normalized but not stemmed
        assert_eq!(words("ar", "ذَهَبَ أحمدُ"), ["ذهب", "احمد"]);
        check_offsets("ar", "ذَهَبَ أحمدُ إلى المدرسة، في ٢٠٢٠.");
        assert!(words("ar", "في ٢٠٢٠.").contains(&"2020".to_string()));
    }

    #[test]
    fn persian_and_urdu_fold_without_arabic_stemmer() {
        // Arabic keyboard yeh/kaf vs Persian letters, ZWNJ or not
        assert_eq!(terms("fa", "كتابهاي من"), terms("fa", "کتاب‌های من"));
        // no stemming: the plural stays
        assert_eq!(terms("fa", "کتاب‌ها"), ["کتابها"]);
        let fa = Analyzer::for_lang(&lang("fa"));
        assert!(!fa.describe().contains("snowball"));
        assert!(!Analyzer::for_lang(&lang("ur"))
            .describe()
            .contains("snowball"));
        assert_eq!(
            terms("ur", "پاکستان کا دارالحکومت اسلام آباد ہے۔"),
            ["پاکستان", "کا", "دارالحکومت", "اسلام", "اباد", "هے"]
        );
    }

    #[test]
    fn indic_words_keep_their_marks() {
        // matras, virama, anusvara stay inside the word
        let w = words("hi", "भारत की राजधानी नई दिल्ली है। किताबें");
        assert_eq!(w, ["भारत", "की", "राजधानी", "नई", "दिल्ली", "है", "किताबें"]);
        assert_eq!(words("bn", "আমি বাংলায় গান গাই"), ["আমি", "বাংলায়", "গান", "গাই"]);
        assert_eq!(words("te", "హైదరాబాద్ తెలంగాణ రాజధాని"), ["హైదరాబాద్", "తెలంగాణ", "రాజధాని"]);
        // Tamil has a Snowball stemmer
        let ta = Analyzer::for_lang(&lang("ta"));
        assert!(ta.describe().contains("snowball(tamil)"));
        assert_eq!(terms("ta", "புத்தகங்கள்"), terms("ta", "புத்தகம்"));
        // Bengali/Telugu: generic (no stemmer exists), still word-correct
        assert!(Analyzer::for_lang(&lang("te")).is_generic());
        check_offsets("hi", "भारत की राजधानी नई दिल्ली है।");
    }

    #[test]
    fn greek_accents_case_and_stemming() {
        assert_eq!(terms("el", "ΑΘΗΝΑ"), terms("el", "Αθήνα"));
        assert_eq!(terms("el", "πόλεις"), terms("el", "πόλη"));
        assert_eq!(
            words("el", "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας."),
            ["η", "αθηνα", "ειναι", "η", "πρωτευουσα", "τησ", "ελλαδασ"]
        );
    }

    #[test]
    fn cyrillic_russian_stemmer_only_for_russian() {
        assert_eq!(terms("ru", "Москвы"), terms("ru", "Москва"));
        assert_eq!(terms("ru", "ёлка"), terms("ru", "елка"));
        // Ukrainian / Bulgarian: generic, lowercase only
        let uk = Analyzer::for_lang(&lang("uk"));
        assert!(uk.is_generic());
        assert_eq!(
            terms("uk", "Київ є столицею України"),
            ["київ", "є", "столицею", "україни"]
        );
        assert_eq!(
            terms("bg", "София е столицата"),
            ["софия", "е", "столицата"]
        );
    }

    #[test]
    fn latin_stemmers() {
        let cases: &[(&str, &str, &str)] = &[
            ("en", "running", "runs"),
            ("de", "Häuser", "Haus"),
            ("es", "canciones", "canción"),
            ("fr", "nationales", "national"),
            ("it", "libri", "libro"),
            ("pt", "cidades", "cidade"),
            ("nl", "boeken", "boek"),
            ("sv", "husen", "hus"),
            ("da", "husene", "huset"),
            ("no", "husene", "huset"),
            ("fi", "talossa", "talo"),
            ("hu", "házak", "ház"),
            ("ro", "orașele", "orașul"),
            ("tr", "kitapların", "kitaplar"),
        ];
        for (code, a, b) in cases {
            let a_t = terms(code, a);
            assert_eq!(a_t, terms(code, b), "{code}: {a} vs {b}");
            assert!(Analyzer::for_lang(&lang(code))
                .describe()
                .contains("snowball"));
        }
        // French / Italian elision
        assert_eq!(terms("fr", "l'homme"), terms("fr", "homme"));
        assert_eq!(terms("it", "dell'università"), terms("it", "università"));
        // Romanian cedilla vs comma below
        assert_eq!(terms("ro", "științe"), terms("ro", "ştiinţe"));
        // English possessive
        assert_eq!(terms("en", "John's"), terms("en", "John"));
    }

    #[test]
    fn turkish_dotted_and_dotless_i() {
        let a = Analyzer::for_lang(&lang("tr"));
        assert_eq!(terms("tr", "İSTANBUL"), terms("tr", "istanbul"));
        assert_eq!(terms("tr", "IRMAK"), terms("tr", "ırmak"));
        assert_ne!(terms("tr", "ılık"), terms("tr", "ilik"));
        // proper-noun suffix after apostrophe
        assert_eq!(terms("tr", "Ankara'dan"), terms("tr", "Ankara"));
        assert_eq!(words("tr", "İstanbul'da"), ["istanbul'da"]);
        assert!(a.describe().contains("turkic"));
        // Default casing elsewhere: English "I" stays "i"
        assert_eq!(words("en", "I"), ["i"]);
    }

    #[test]
    fn nfkc_and_lowercase_everywhere() {
        for code in ["en", "de", "xx-unknown"] {
            let a = match Lang::parse(code) {
                Ok(l) => Analyzer::for_lang(&l),
                Err(_) => Analyzer::generic(),
            };
            let w: Vec<String> = a
                .words("ＵＮＩＣＯＤＥ ﬁle Straße")
                .into_iter()
                .map(|t| t.text)
                .collect();
            assert_eq!(w, ["unicode", "file", "straße"], "{code}");
        }
        let text = "Ｔｏｋｙｏ ﬁle";
        let t = Analyzer::generic().words(text);
        assert_eq!(&text[t[0].start..t[0].end], "Ｔｏｋｙｏ");
        assert_eq!(&text[t[1].start..t[1].end], "ﬁle");
    }

    #[test]
    fn generic_is_generic_and_never_english() {
        for code in ["sw", "vi", "uk", "ka", "am", "yo", "bn"] {
            let a = Analyzer::for_lang(&lang(code));
            assert!(a.is_generic(), "{code}");
            assert_eq!(a.name(), "xlqa-generic");
            assert!(!a.describe().contains("snowball"));
        }
        // "running" would be "run" with English rules
        let g = Analyzer::generic();
        assert_eq!(g.analyze("Watoto wanacheza running")[2].text, "running");
        // script-aware: Thai in generic text is still split into words
        let th: Vec<String> = g.words("ฉันไปโรงเรียน").into_iter().map(|t| t.text).collect();
        assert_eq!(th, ["ฉัน", "ไป", "โรงเรียน"]);
        assert!(!Analyzer::for_lang(&lang("en")).is_generic());
    }

    #[test]
    fn numbers_are_tokens_and_punctuation_dropped() {
        assert_eq!(
            words("en", "In 1969, 3.14 and 1,000.5 (approx.) — 42%!"),
            ["in", "1969", "3.14", "and", "1,000.5", "approx", "42"]
        );
        assert!(words("en", "... !!! ---").is_empty());
        assert!(terms("en", "").is_empty());
    }

    #[test]
    fn positions_are_consecutive() {
        let t = Analyzer::for_lang(&lang("en")).analyze("The quick, brown fox.");
        let p: Vec<usize> = t.iter().map(|t| t.position).collect();
        assert_eq!(p, [0, 1, 2, 3]);
    }

    #[test]
    fn supported_languages_list() {
        let list = supported_languages();
        let codes: Vec<&str> = list.iter().map(|(c, _)| *c).collect();
        for c in [
            "zh", "yue", "ja", "th", "lo", "km", "my", "ko", "ar", "fa", "ur", "hi", "ta", "el",
            "ru", "en", "de", "tr",
        ] {
            assert!(codes.contains(&c), "{c} missing");
        }
        for (code, d) in &list {
            let a = Analyzer::for_lang(&lang(code));
            assert_eq!(&a.describe(), d);
            assert!(!a.is_generic());
            assert_eq!(a.name(), format!("xlqa-{code}"));
        }
        let de = list.iter().find(|(c, _)| *c == "de").unwrap();
        assert_eq!(de.1, "unicode words + NFKC + lowercase + snowball(german)");
    }

    #[test]
    fn analyzer_is_send_sync_and_cheap_to_clone() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<Analyzer>();
        let a = Analyzer::for_lang(&lang("zh"));
        let b = a.clone();
        assert!(Arc::ptr_eq(&a.inner, &b.inner));
        let h = std::thread::spawn(move || b.analyze("北京欢迎你").len());
        assert!(h.join().unwrap() >= 2);
    }

    #[test]
    fn xquad_offsets_round_trip() {
        for code in [
            "ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh",
        ] {
            let Some(ctx) = testdata::xquad_contexts(code) else {
                return;
            };
            let a = Analyzer::for_lang(&lang(code));
            for c in ctx.iter().take(40) {
                let words = a.words(c);
                assert!(words.len() > 10, "{code}: too few words");
                let mut last = 0;
                for t in &words {
                    assert!(t.start >= last && t.start < t.end && t.end <= c.len());
                    last = t.start;
                    // The original slice normalizes to something containing
                    // letters or digits.
                    assert!(
                        c[t.start..t.end].chars().any(char::is_alphanumeric),
                        "{code}: {t:?}"
                    );
                }
                assert!(!a.analyze(c).is_empty());
            }
        }
    }

    #[test]
    fn korean_tydi_particles_are_stripped() {
        let Some(ctx) = testdata::tydi_contexts("korean") else {
            return;
        };
        let a = Analyzer::for_lang(&lang("ko"));
        let (mut words_vocab, mut terms_vocab) = (
            std::collections::HashSet::new(),
            std::collections::HashSet::new(),
        );
        for c in ctx.iter().take(300) {
            let w = a.words(c);
            let t = a.analyze(c);
            assert_eq!(w.len(), t.len());
            for (w, t) in w.iter().zip(&t) {
                assert_eq!((w.start, w.end), (t.start, t.end));
                assert!(w.text.starts_with(&t.text), "{} -> {}", w.text, t.text);
                words_vocab.insert(w.text.clone());
                terms_vocab.insert(t.text.clone());
            }
        }
        // particles conflate surface forms: clearly fewer distinct terms
        assert!(
            terms_vocab.len() * 10 < words_vocab.len() * 9,
            "{} terms vs {} words",
            terms_vocab.len(),
            words_vocab.len()
        );
    }

    /// Throughput of `analyze()` on XQuAD contexts (and TyDi GoldP dev
    /// passages for ko, bn, te, fi, sw), per language. Run with
    /// `cargo test --release -p xlqa-text analyze_throughput -- --ignored --nocapture`.
    #[test]
    #[ignore = "benchmark; run explicitly"]
    fn analyze_throughput() {
        let sets: Vec<(&str, Option<Vec<String>>)> = vec![
            ("en", testdata::xquad_contexts("en")),
            ("de", testdata::xquad_contexts("de")),
            ("es", testdata::xquad_contexts("es")),
            ("ro", testdata::xquad_contexts("ro")),
            ("tr", testdata::xquad_contexts("tr")),
            ("fi", testdata::tydi_contexts("finnish")),
            ("ru", testdata::xquad_contexts("ru")),
            ("el", testdata::xquad_contexts("el")),
            ("ar", testdata::xquad_contexts("ar")),
            ("hi", testdata::xquad_contexts("hi")),
            ("bn", testdata::tydi_contexts("bengali")),
            ("te", testdata::tydi_contexts("telugu")),
            ("vi", testdata::xquad_contexts("vi")),
            ("sw", testdata::tydi_contexts("swahili")),
            ("ko", testdata::tydi_contexts("korean")),
            ("th", testdata::xquad_contexts("th")),
            ("zh", testdata::xquad_contexts("zh")),
        ];
        for (code, ctx) in sets {
            let Some(ctx) = ctx else {
                return;
            };
            let t_build = std::time::Instant::now();
            let a = Analyzer::for_lang(&lang(code));
            let build_ms = t_build.elapsed().as_secs_f64() * 1e3;
            let bytes: usize = ctx.iter().map(String::len).sum();
            // warm-up (tables, stem cache, page faults)
            let mut n = 0;
            for c in &ctx {
                n += a.analyze(c).len();
            }
            let reps = (4_000_000 / bytes).max(1);
            let t0 = std::time::Instant::now();
            for _ in 0..reps {
                for c in &ctx {
                    n += a.analyze(c).len();
                }
            }
            let secs = t0.elapsed().as_secs_f64();
            let mb = (bytes * reps) as f64 / 1e6;
            let t1 = std::time::Instant::now();
            for _ in 0..reps {
                for c in &ctx {
                    n += a.words(c).len();
                }
            }
            let wsecs = t1.elapsed().as_secs_f64();
            println!(
                "{code}: analyze {:>5.1} MB/s, words {:>5.1} MB/s ({:.1} MB = {reps} x {} passages; built in {build_ms:.0} ms) [{}]",
                mb / secs,
                mb / wsecs,
                mb,
                ctx.len(),
                a.name(),
            );
            assert!(n > 0);
        }
    }
}
