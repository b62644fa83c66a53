//! Answer normalization and tokenization for EM / token F1 / BLEU.
//!
//! The pipeline (the order of the MLQA and MKQA evaluation scripts):
//!
//! 1. **lowercase**: Unicode default lowercase (`str::to_lowercase`, the same
//!    full mapping as Python's `str.lower`);
//! 2. **remove punctuation**: every character of Unicode general category
//!    `P*` plus the 32 ASCII punctuation characters of Python's
//!    `string.punctuation` (which include the symbols `$+<=>^`|~`);
//! 3. **remove articles** of the answer language (table [`ARTICLES`], the
//!    one of MKQA's `mkqa_eval_util.py`, which extends MLQA's
//!    `mlqa_evaluation_v1.py` for en/es/de/vi/ar): a whole word from the list
//!    is replaced by a space (`\b(…)\b`, Unicode word boundaries). Arabic
//!    (see below) is a documented deviation;
//! 4. **tokenize**: whitespace split, except for the languages written
//!    without spaces between words ([`SEGMENTED_LANGS`]), whose text goes
//!    through `xlqa_text::analyze::Analyzer::for_lang(lang).words` (jieba for
//!    zh/yue, the ICU4X dictionary segmenter for ja/th/lo/km/my), or with
//!    [`ZhTokens::Char`] for Chinese, MLQA's "mixed segmentation" (every
//!    character U+4E00–U+9FA5 is a token of its own, the rest is whitespace
//!    split).
//!
//! Deviations from the reference scripts, on purpose:
//! - **Arabic**: MLQA/MKQA use `re.sub('\sال^|ال', ' ', text)`, whose first
//!   branch can never match, so *every* occurrence of the two letters ال is
//!   replaced by a space, including inside words (`شمال` "north" → `شم`,
//!   `الجمال` → `جم`), which splits words. xlqa removes ال only at the start
//!   of a word, when at least two characters remain (`الكتاب` → `كتاب`,
//!   `مال` unchanged); a lone `ال` token is dropped.
//! - French `l'`/`d'` and Italian `l'`/`dell'`/`un'` of MKQA's table never
//!   match there (punctuation is removed first, so `l'homme` is `lhomme`);
//!   they are not listed here. MKQA's fr/it patterns also lack the closing
//!   `\b` (so `lendemain` → `ndemain`); xlqa requires whole words.
//! - The analyzer languages get the analyzer's NFKC, digit folding (`๑` →
//!   `1`) and drop segments without a letter or digit (symbols); whitespace
//!   languages keep symbol tokens such as `€`, as MLQA does.
//!
//! Tokenizers of other evaluations differ from xlqa's for the segmented
//! languages: MIA/XOR-TyDi use MeCab (IPAdic) for Japanese, jieba (Python,
//! default "accurate" mode; jieba-rs ships the same default dictionary) for
//! Chinese and khmernltk (a CRF model) for Khmer; MKQA's official script
//! cuts zh/ja/th/km into single characters. ICU's dictionaries are not
//! MeCab's or khmernltk's, so word boundaries, and hence F1 on partially
//! overlapping answers, can differ; how much was not measured (neither
//! MeCab nor khmernltk is available here). EM differs only through the
//! analyzer's NFKC and digit folding. For zh, `--zh-tokens char` gives
//! MLQA's tokens exactly.

use std::sync::OnceLock;

use regex::Regex;
use xlqa_core::Lang;
use xlqa_text::analyze::Analyzer;

/// Languages written without spaces between words: tokenized by the xlqa
/// analyzer instead of a whitespace split (primary subtags).
pub const SEGMENTED_LANGS: &[&str] = &["zh", "yue", "ja", "th", "lo", "km", "my"];

/// Articles removed per answer language (primary subtag), from MKQA's
/// `ARTICLE_REGEX_BY_LANG` (en/es/de/vi as MLQA). Arabic is handled by a
/// word-initial rule (see the module documentation); every other language
/// has no article removal (MLQA: "hi"/"zh" explicitly none).
pub const ARTICLES: &[(&str, &[&str])] = &[
    ("en", &["a", "an", "the"]),
    (
        "es",
        &["un", "una", "unos", "unas", "el", "la", "los", "las"],
    ),
    ("vi", &["của", "là", "cái", "chiếc", "những"]),
    (
        "de",
        &[
            "ein", "eine", "einen", "einem", "eines", "einer", "der", "die", "das", "den", "dem",
            "des",
        ],
    ),
    ("nl", &["de", "het", "een", "des", "der", "den"]),
    ("sv", &["en", "ett"]),
    ("da", &["en", "et"]),
    ("no", &["en", "et", "ei"]),
    ("fr", &["le", "la", "les", "du", "de", "des", "un", "une"]),
    ("pt", &["o", "a", "os", "as", "um", "uma", "uns", "umas"]),
    (
        "it",
        &[
            "il", "lo", "la", "i", "gli", "le", "del", "dello", "della", "dei", "degli", "delle",
            "uno", "una", "un",
        ],
    ),
    ("fi", &["se", "yks", "yksi"]),
    ("hu", &["a", "az", "egy"]),
];

/// How Chinese answers are cut into tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ZhTokens {
    /// jieba words (xlqa's Chinese analyzer).
    #[default]
    Word,
    /// MLQA "mixed segmentation": each character U+4E00–U+9FA5 is a token,
    /// other runs are split on whitespace (for comparison with MLQA/XTREME).
    Char,
}

enum Tokenizer {
    Whitespace,
    MixedChar,
    Analyzer(Analyzer),
}

enum ArticleRule {
    None,
    Words(&'static [&'static str], Regex),
    ArabicPrefix,
}

/// Normalizes and tokenizes answers of one language.
pub struct AnswerNormalizer {
    lang: Lang,
    articles: ArticleRule,
    tokenizer: Tokenizer,
}

fn punctuation() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // \p{P} and the ASCII punctuation of Python's string.punctuation.
        Regex::new(r"[\p{P}!-/:-@\[-`{-~]").unwrap_or_else(|e| panic!("punctuation regex: {e}"))
    })
}

impl AnswerNormalizer {
    /// The rules for answers in `lang` (by primary subtag).
    pub fn new(lang: &Lang, zh: ZhTokens) -> AnswerNormalizer {
        let primary = lang.primary();
        let articles = if primary == "ar" {
            ArticleRule::ArabicPrefix
        } else if let Some((_, words)) = ARTICLES.iter().find(|(l, _)| *l == primary) {
            let pattern = format!(r"\b(?:{})\b", words.join("|"));
            // The words are plain letters: the pattern always compiles.
            let re = Regex::new(&pattern).unwrap_or_else(|e| panic!("article regex: {e}"));
            ArticleRule::Words(words, re)
        } else {
            ArticleRule::None
        };
        let tokenizer = if (primary == "zh" || primary == "yue") && zh == ZhTokens::Char {
            Tokenizer::MixedChar
        } else if SEGMENTED_LANGS.contains(&primary) {
            Tokenizer::Analyzer(Analyzer::for_lang(lang))
        } else {
            Tokenizer::Whitespace
        };
        AnswerNormalizer {
            lang: lang.clone(),
            articles,
            tokenizer,
        }
    }

    /// The answer language.
    pub fn lang(&self) -> &Lang {
        &self.lang
    }

    /// One line describing the rules, for reports.
    pub fn describe(&self) -> String {
        let articles = match &self.articles {
            ArticleRule::None => "no articles".to_string(),
            ArticleRule::Words(w, _) => format!("articles {}", w.join("/")),
            ArticleRule::ArabicPrefix => "word-initial ال removed".to_string(),
        };
        let tokens = match &self.tokenizer {
            Tokenizer::Whitespace => "whitespace tokens".to_string(),
            Tokenizer::MixedChar => "MLQA mixed segmentation (one token per CJK character)".into(),
            Tokenizer::Analyzer(a) => format!("{} words ({})", a.name(), seg_name(a)),
        };
        format!("lowercase, punctuation removed, {articles}, {tokens}")
    }

    /// The normalized tokens of `text`.
    pub fn tokens(&self, text: &str) -> Vec<String> {
        let lower = text.to_lowercase();
        let no_punct = punctuation().replace_all(&lower, "");
        let no_articles = match &self.articles {
            ArticleRule::Words(_, re) => re.replace_all(&no_punct, " "),
            _ => no_punct,
        };
        let text = no_articles.as_ref();
        let mut out: Vec<String> = match &self.tokenizer {
            Tokenizer::Whitespace => text.split_whitespace().map(str::to_string).collect(),
            Tokenizer::MixedChar => mixed_segmentation(text),
            Tokenizer::Analyzer(a) => a.words(text).into_iter().map(|t| t.text).collect(),
        };
        if matches!(self.articles, ArticleRule::ArabicPrefix) {
            out.retain_mut(strip_arabic_article);
        }
        out
    }
}

fn seg_name(a: &Analyzer) -> &'static str {
    use xlqa_text::analyze::Segmentation;
    match a.segmentation() {
        Segmentation::Jieba => "jieba",
        Segmentation::IcuDictionary => "ICU dictionary segmentation",
        Segmentation::UnicodeWords => "UAX #29",
        Segmentation::Hangul => "UAX #29",
    }
}

/// Removes a word-initial ال when at least two characters follow; returns
/// false when the token is the bare article (to be dropped).
fn strip_arabic_article(t: &mut String) -> bool {
    if t == "ال" {
        return false;
    }
    if let Some(rest) = t.strip_prefix("ال") {
        if rest.chars().count() >= 2 {
            *t = rest.to_string();
        }
    }
    true
}

fn mixed_segmentation(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut run = String::new();
    for c in text.chars() {
        if ('\u{4E00}'..='\u{9FA5}').contains(&c) {
            out.extend(run.split_whitespace().map(str::to_string));
            run.clear();
            out.push(c.to_string());
        } else {
            run.push(c);
        }
    }
    out.extend(run.split_whitespace().map(str::to_string));
    out
}

/// SQuAD exact match on normalized tokens: 1 when the token sequences are
/// equal (the reference scripts compare the tokens joined by single spaces,
/// which is the same), else 0.
pub fn exact_match(pred: &[String], gold: &[String]) -> f64 {
    if pred == gold {
        1.0
    } else {
        0.0
    }
}

/// SQuAD token F1: with `c` the size of the multiset intersection, P =
/// c/|pred|, R = c/|gold|, F1 = 2PR/(P+R); 0 when c = 0. When either side
/// has no token, F1 = 1 if both are empty, else 0 (SQuAD v2.0 / MKQA).
pub fn token_f1(pred: &[String], gold: &[String]) -> f64 {
    if pred.is_empty() || gold.is_empty() {
        return if pred.is_empty() && gold.is_empty() {
            1.0
        } else {
            0.0
        };
    }
    let mut counts: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for t in gold {
        *counts.entry(t.as_str()).or_default() += 1;
    }
    let mut common = 0usize;
    for t in pred {
        if let Some(c) = counts.get_mut(t.as_str()) {
            if *c > 0 {
                *c -= 1;
                common += 1;
            }
        }
    }
    if common == 0 {
        return 0.0;
    }
    let p = common as f64 / pred.len() as f64;
    let r = common as f64 / gold.len() as f64;
    2.0 * p * r / (p + r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(code: &str) -> AnswerNormalizer {
        AnswerNormalizer::new(&Lang::parse(code).unwrap(), ZhTokens::Word)
    }

    fn toks(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn english_squad_normalization() {
        let n = norm("en");
        // lowercase, "," "." "'" removed, "the"/"a" dropped, spaces collapsed
        assert_eq!(
            n.tokens("The  Panthers' defense, a wall."),
            toks(&["panthers", "defense", "wall"])
        );
        // "theater" keeps its "the": whole words only
        assert_eq!(n.tokens("Theater"), toks(&["theater"]));
        // the ASCII symbols of string.punctuation go too, other symbols stay
        assert_eq!(n.tokens("$5 + €3"), toks(&["5", "€3"]));
        assert!(n.tokens("The.").is_empty());
    }

    #[test]
    fn articles_per_language() {
        assert_eq!(
            norm("es").tokens("Los Ángeles y el Río"),
            toks(&["ángeles", "y", "río"])
        );
        assert_eq!(
            norm("de").tokens("Die Katze des Nachbarn"),
            toks(&["katze", "nachbarn"])
        );
        assert_eq!(
            norm("vi").tokens("Những con mèo của tôi"),
            toks(&["con", "mèo", "tôi"])
        );
        // no article table for Russian or Hindi: nothing removed, and never
        // the English list
        assert_eq!(norm("ru").tokens("The Кошка"), toks(&["the", "кошка"]));
        assert_eq!(norm("hi").tokens("a बिल्ली"), toks(&["a", "बिल्ली"]));
        // fr: whole words only ("lendemain" is not "le"+"ndemain")
        assert_eq!(
            norm("fr").tokens("Le lendemain des faits"),
            toks(&["lendemain", "faits"])
        );
    }

    #[test]
    fn arabic_article_and_punctuation() {
        let n = norm("ar");
        // "،" (U+060C) and "؟" (U+061F) are category Po; ال is stripped at the
        // start of الكتاب and الجديد, not inside شمال; the bare ال is dropped
        assert_eq!(
            n.tokens("الكتاب، الجديد شمال ال؟"),
            toks(&["كتاب", "جديد", "شمال"])
        );
        // two letters after ال is the minimum
        assert_eq!(n.tokens("الم"), toks(&["الم"]));
        assert_eq!(n.tokens("الأب"), toks(&["أب"]));
    }

    #[test]
    fn chinese_word_and_char_tokens() {
        let zh = norm("zh");
        // full-width "，" and "。" are punctuation (Po)
        assert_eq!(zh.tokens("我爱北京，。"), toks(&["我", "爱", "北京"]));
        let zc = AnswerNormalizer::new(&Lang::parse("zh").unwrap(), ZhTokens::Char);
        // MLQA mixed segmentation: one token per Han character, Latin words
        // and numbers stay whole
        assert_eq!(
            zc.tokens("136 次 NBA总冠军"),
            toks(&["136", "次", "nba", "总", "冠", "军"])
        );
        // F1 of 北京大学 vs 北京: char mode: common {北,京} = 2, P = 2/2,
        // R = 2/4 → 2·1·0.5/1.5 = 2/3
        let f = token_f1(&zc.tokens("北京"), &zc.tokens("北京大学"));
        assert!((f - 2.0 / 3.0).abs() < 1e-12, "{f}");
    }

    #[test]
    fn thai_and_japanese_dictionary_words() {
        let th = norm("th");
        let t = th.tokens("ภาษาไทย");
        assert_eq!(t, toks(&["ภาษา", "ไทย"]));
        // pred ภาษา vs gold ภาษาไทย: c = 1, P = 1, R = 1/2 → F1 = 2/3
        let f = token_f1(&th.tokens("ภาษา"), &t);
        assert!((f - 2.0 / 3.0).abs() < 1e-12);
        let ja = norm("ja");
        let t = ja.tokens("東京都に住む");
        assert_eq!(t, toks(&["東京", "都", "に", "住む"]));
        // pred 東京都 ([東京, 都]) vs gold 東京: c = 1, P = 1/2, R = 1 → 2/3
        let f = token_f1(&ja.tokens("東京都"), &ja.tokens("東京"));
        assert!((f - 2.0 / 3.0).abs() < 1e-12);
        // a whitespace split would have given a single token
        assert_eq!("東京都に住む".split_whitespace().count(), 1);
    }

    #[test]
    fn f1_and_em_hand_computed() {
        let g = toks(&["kawann", "short"]);
        // P = 2/3, R = 2/2 → F1 = 2·(2/3)·1/(2/3+1) = (4/3)/(5/3) = 0.8
        let p = toks(&["kawann", "short", "jr"]);
        assert!((token_f1(&p, &g) - 0.8).abs() < 1e-12);
        assert_eq!(exact_match(&p, &g), 0.0);
        assert_eq!(exact_match(&g, &g), 1.0);
        // multiset: pred a a a vs gold a b → c = 1, P = 1/3, R = 1/2,
        // F1 = 2·(1/6)/(5/6) = 0.4
        let f = token_f1(&toks(&["a", "a", "a"]), &toks(&["a", "b"]));
        assert!((f - 0.4).abs() < 1e-12);
        // empty cases (SQuAD v2): both empty → 1, one empty → 0
        assert_eq!(token_f1(&[], &[]), 1.0);
        assert_eq!(token_f1(&[], &g), 0.0);
        assert_eq!(token_f1(&g, &[]), 0.0);
        assert_eq!(exact_match(&[], &g), 0.0);
        // no overlap
        assert_eq!(token_f1(&toks(&["x"]), &g), 0.0);
    }
}
