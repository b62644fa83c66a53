//! Language identification with fastText `lid.176` (176 languages).
//!
//! The model is run through the `fasttext` crate (=0.7.8, which bundles the
//! C++ fastText; the pure-Rust 0.8.0 gives wrong labels on this model). Its
//! labels (`__label__en`, `__label__als`, …) are mapped to canonical
//! [`Lang`] codes at load time: every label of the model must map, or loading
//! fails, so no label is ever dropped or silently turned into another
//! language.
//!
//! Before prediction the text is put on one line (fastText stops reading at a
//! newline) and ended with `\n`, as the official Python binding does. Case and
//! punctuation are left alone: lower-casing and splitting off punctuation
//! were measured and both lost accuracy (German and Finnish questions, resp.
//! Swahili questions and Cantonese/Wu). A few script rules then correct the
//! model where the writing system decides the language among the ones
//! lid.176 knows: see [`ScriptRule`]. The measurements are printed by
//! `crates/xlqa-eval/tests/langid_real.rs`.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use xlqa_core::Lang;

/// Identifier of the model behind [`LangId`], recorded in index manifests.
pub const MODEL_ID: &str = "fasttext-lid.176";

/// Magic number at the start of every fastText model file (`.bin`/`.ftz`).
const FASTTEXT_MAGIC: i32 = 793_712_314;

/// Labels of lid.176 whose code is not the canonical [`Lang`] for what the
/// model actually learnt, mapped deliberately. Every other label goes through
/// [`Lang::parse`] unchanged (which keeps valid ISO 639-3 codes such as
/// `yue`, `wuu`, `nah`, `arz` as they are). `eml` (Emilian-Romagnol, split by
/// ISO 639-3 in 2009 into `egl` and `rgn`) is kept: the model cannot tell
/// the two apart.
const LABEL_OVERRIDES: &[(&str, &str)] = &[
    // Serbo-Croatian: ISO 639-1 `sh` was withdrawn and `Lang::parse` rejects
    // it; `hbs` is its ISO 639-3 macrolanguage code. Not mapped to `sr`/`hr`:
    // the model cannot tell which standard the text follows.
    ("sh", "hbs"),
    // lid.176 (like Wikipedia) uses `als` for Alemannic German, but in
    // ISO 639-3 `als` is Tosk Albanian. Alemannic is `gsw`.
    ("als", "gsw"),
    // `bh` (Bihari) is a withdrawn ISO 639-1 *collective* code; the
    // Wikipedia it was learnt from (bh.wikipedia.org) is written in
    // Bhojpuri, ISO 639-3 `bho`.
    ("bh", "bho"),
];

/// Errors of [`LangId::load`].
#[derive(Debug, thiserror::Error)]
pub enum LangIdError {
    /// The model file does not exist.
    #[error("language-id model '{path}' not found: install it with `xlqa_models::install::ModelHome::from_env()?.ensure(&LID_176)`")]
    NotFound { path: PathBuf },
    /// The model file could not be read.
    #[error("cannot read language-id model '{path}': {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not a fastText model.
    #[error("'{path}' is not a fastText model ({detail}): expected lid.176.ftz or lid.176.bin; re-install it")]
    NotFastText { path: PathBuf, detail: String },
    /// The path cannot be passed to the C++ loader.
    #[error("language-id model path '{path}' is not valid UTF-8: move the model to a UTF-8 path (e.g. set XLQA_HOME)")]
    NonUtf8Path { path: PathBuf },
    /// fastText itself refused the file.
    #[error("fastText failed to load '{path}': {message}")]
    Load { path: PathBuf, message: String },
    /// The model has a label this module cannot map to a language code.
    #[error("model '{path}' has label '{label}' that is not a language code ({reason}); this module supports lid.176 only")]
    UnmappedLabel {
        path: PathBuf,
        label: String,
        reason: String,
    },
    /// The model is not a supervised classifier with labels.
    #[error("model '{path}' has no labels: it is not a language-id classifier")]
    NoLabels { path: PathBuf },
}

/// One language guess.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Detection {
    /// The language, as a canonical code.
    pub lang: Lang,
    /// The model's probability for `lang` (0..=1). When a [`ScriptRule`]
    /// decided the language, the larger of that probability and the share of
    /// the text's units (see [`ScriptRule`]) in the deciding script.
    pub confidence: f32,
}

/// Corrections by writing system, applied after fastText.
///
/// A rule fires only when its script holds at least
/// [`DetectOptions::script_share`] of the text's *units*: every Han, kana or
/// Hangul character is one unit, every run of letters of another script (a
/// word) is one unit, so `Energiprojekt AB公司位于何处` is 6 Han units out of
/// 8. Each rule is on by default because it measurably helped (see
/// `crates/xlqa-eval/tests/langid_real.rs`, which prints the ablation). A
/// Thai rule was measured too and dropped: fastText alone was already right
/// on every Thai text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScriptRule {
    /// Hiragana or katakana present (kana + Han the main script) → `ja`.
    Kana,
    /// Hangul → `ko` (the only lid.176 language written in Hangul).
    Hangul,
    /// Greek script → `el`.
    Greek,
    /// Han without kana or Hangul → Chinese: `yue` if it has characters
    /// only written Cantonese uses (嘅 唔 咗 佢 …), `wuu` if it has ones only
    /// written Wu uses (侬 搿 覅 …), fastText's `yue`/`wuu` if it gave them
    /// at least [`HAN_DIALECT_MIN_CONFIDENCE`], else `zh` (Mandarin / written
    /// standard Chinese, which fastText often mislabels `wuu` or `ja`).
    Chinese,
}

/// fastText's `yue`/`wuu` label on Han text without Cantonese or Wu
/// characters is kept only from this probability on (measured on XQuAD zh
/// and Tatoeba cmn/yue/wuu: 0.9 keeps standard Chinese at ≥ 99%).
pub const HAN_DIALECT_MIN_CONFIDENCE: f32 = 0.9;

impl ScriptRule {
    /// All rules, in the order they are tried.
    pub const ALL: [ScriptRule; 4] = [
        ScriptRule::Kana,
        ScriptRule::Hangul,
        ScriptRule::Greek,
        ScriptRule::Chinese,
    ];
}

impl fmt::Display for ScriptRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            ScriptRule::Kana => "kana",
            ScriptRule::Hangul => "hangul",
            ScriptRule::Greek => "greek",
            ScriptRule::Chinese => "chinese",
        };
        f.write_str(name)
    }
}

/// How [`LangId`] prepares text and corrects the model.
#[derive(Clone, Debug, PartialEq)]
pub struct DetectOptions {
    /// Lower-case the text before fastText.
    pub lowercase: bool,
    /// End the line with `\n`, as the official fastText Python binding does:
    /// fastText then adds its end-of-sentence token `</s>`, which ended every
    /// training line. Without it the `fasttext` crate returns no label at all
    /// for some short texts (`Who sent me a telegram?`).
    pub end_of_line: bool,
    /// Put spaces around punctuation (`Je,nchi` → `Je , nchi`, `좋아해?` →
    /// `좋아해 ?`): fastText splits words on white space only.
    pub split_punctuation: bool,
    /// Script rules to apply after fastText.
    pub script_rules: Vec<ScriptRule>,
    /// Share of units (0..=1, see [`ScriptRule`]) a script must hold for its
    /// rule to fire.
    pub script_share: f32,
    /// Closed set: only these languages (compared by primary subtag) may be
    /// answered, e.g. the languages of a collection. `None`: all 176.
    pub candidates: Option<Vec<Lang>>,
}

impl Default for DetectOptions {
    fn default() -> Self {
        DetectOptions {
            lowercase: false,
            end_of_line: true,
            split_punctuation: false,
            script_rules: ScriptRule::ALL.to_vec(),
            script_share: 0.5,
            candidates: None,
        }
    }
}

impl DetectOptions {
    /// fastText as the `fasttext` crate calls it: newlines flattened, nothing
    /// else (for ablations; it answers nothing for some short texts).
    pub fn raw() -> Self {
        DetectOptions {
            lowercase: false,
            end_of_line: false,
            split_punctuation: false,
            script_rules: Vec::new(),
            script_share: 0.5,
            candidates: None,
        }
    }
}

/// The fastText lid.176 language identifier.
///
/// `Send + Sync`: the `fasttext` crate marks its model `Send + Sync`, and
/// prediction in the C++ library (`FastText::predictLine`) is a `const`
/// method that keeps all its scratch state on the caller's stack, so one
/// `LangId` can be shared by threads without a lock.
pub struct LangId {
    model: fasttext::FastText,
    labels: HashMap<String, Lang>,
    options: DetectOptions,
}

impl fmt::Debug for LangId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LangId")
            .field("model_id", &MODEL_ID)
            .field("labels", &self.labels.len())
            .field("options", &self.options)
            .finish()
    }
}

/// Maps one fastText label (with or without `__label__`) to a [`Lang`].
pub fn label_to_lang(label: &str) -> Result<Lang, xlqa_core::LangError> {
    let code = label.strip_prefix("__label__").unwrap_or(label);
    let code = LABEL_OVERRIDES
        .iter()
        .find(|(from, _)| *from == code)
        .map(|(_, to)| *to)
        .unwrap_or(code);
    Lang::parse(code)
}

impl LangId {
    /// Loads a fastText language-id model (lid.176 `.ftz` or `.bin`).
    pub fn load(model_path: &Path) -> Result<LangId, LangIdError> {
        let path = model_path.to_path_buf();
        let mut file = match File::open(model_path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(LangIdError::NotFound { path });
            }
            Err(source) => return Err(LangIdError::Io { path, source }),
        };
        // Check the header and training arguments ourselves: the C++ loader
        // can abort the whole process on files that are not fastText models.
        if let Err(detail) = check_header(&mut file) {
            return Err(LangIdError::NotFastText { path, detail });
        }
        drop(file);
        let path_str = model_path
            .to_str()
            .ok_or_else(|| LangIdError::NonUtf8Path { path: path.clone() })?;
        let mut model = fasttext::FastText::new();
        model
            .load_model(path_str)
            .map_err(|message| LangIdError::Load {
                path: path.clone(),
                message,
            })?;
        let (raw_labels, _) = model.get_labels().map_err(|message| LangIdError::Load {
            path: path.clone(),
            message: format!("cannot list labels: {message}"),
        })?;
        if raw_labels.is_empty() {
            return Err(LangIdError::NoLabels { path });
        }
        let mut labels = HashMap::with_capacity(raw_labels.len());
        for label in raw_labels {
            let lang = label_to_lang(&label).map_err(|e| LangIdError::UnmappedLabel {
                path: path.clone(),
                label: label.clone(),
                reason: e.to_string(),
            })?;
            labels.insert(label, lang);
        }
        Ok(LangId {
            model,
            labels,
            options: DetectOptions::default(),
        })
    }

    /// Replaces the preprocessing / correction options.
    pub fn with_options(mut self, options: DetectOptions) -> LangId {
        self.options = options;
        self
    }

    /// The options in use.
    pub fn options(&self) -> &DetectOptions {
        &self.options
    }

    /// `"fasttext-lid.176"`.
    pub fn model_id(&self) -> &str {
        MODEL_ID
    }

    /// Every language the model can answer, sorted.
    pub fn languages(&self) -> Vec<Lang> {
        let mut langs: Vec<Lang> = self.labels.values().cloned().collect();
        langs.sort();
        langs.dedup();
        langs
    }

    /// The most likely language of `text`. With the default options `None`
    /// only when the text has no letters at all (empty, digits, punctuation,
    /// symbols), or when [`DetectOptions::candidates`] leaves nothing.
    pub fn detect(&self, text: &str) -> Option<Detection> {
        self.detect_top(text, 1).into_iter().next()
    }

    /// The `k` most likely languages, best first (a language decided by a
    /// [`ScriptRule`] is put first); fewer when the model gives the others
    /// less than fastText's floor of 1e-5. Empty when the text has no letters
    /// or `k` is 0, or — with [`DetectOptions::candidates`] — when no
    /// candidate reaches that floor.
    pub fn detect_top(&self, text: &str, k: usize) -> Vec<Detection> {
        if k == 0 {
            return Vec::new();
        }
        let Some(prepared) = prepare(text, &self.options) else {
            return Vec::new();
        };
        let candidates = self.options.candidates.as_deref();
        let allowed = |lang: &Lang| {
            candidates.is_none_or(|c| c.iter().any(|l| l.primary() == lang.primary()))
        };
        let want = match candidates {
            Some(_) => self.labels.len(),
            None => k.min(self.labels.len()).max(1),
        };
        let k_i32 = i32::try_from(want).unwrap_or(i32::MAX);
        let mut out: Vec<Detection> = match self.model.predict(&prepared, k_i32, 0.0) {
            Ok(preds) => preds
                .into_iter()
                .filter_map(|p| {
                    // Every label was mapped at load time; a label the
                    // model did not list cannot occur.
                    self.labels.get(&p.label).map(|lang| Detection {
                        lang: lang.clone(),
                        confidence: p.prob,
                    })
                })
                .filter(|d| allowed(&d.lang))
                .collect(),
            Err(_) => Vec::new(),
        };
        if let Some((lang, share)) = script_decision(text, &self.options, out.first()) {
            if allowed(&lang) {
                let confidence = match out.iter().position(|d| d.lang == lang) {
                    Some(i) => out.remove(i).confidence.max(share),
                    None => share,
                };
                out.insert(0, Detection { lang, confidence });
            }
        }
        out.truncate(k);
        out
    }
}

/// Checks the fastText header (magic, version) and the training arguments
/// that follow it (a supervised model with sane sizes). The full file is
/// verified by sha256 when it is installed.
fn check_header(file: &mut File) -> Result<(), String> {
    // magic, version, then Args: dim ws epoch minCount neg wordNgrams loss
    // model bucket minn maxn lrUpdateRate (i32 each) and t (f64).
    let mut buf = [0u8; 8 + 12 * 4 + 8];
    file.read_exact(&mut buf)
        .map_err(|e| format!("shorter than a fastText header: {e}"))?;
    let int = |i: usize| {
        let b = &buf[4 * i..4 * i + 4];
        i32::from_le_bytes([b[0], b[1], b[2], b[3]])
    };
    let (magic, version) = (int(0), int(1));
    if magic != FASTTEXT_MAGIC {
        return Err(format!("magic number {magic}, expected {FASTTEXT_MAGIC}"));
    }
    if !(1..=12).contains(&version) {
        return Err(format!("unsupported format version {version}"));
    }
    let (dim, loss, model, bucket, minn, maxn) =
        (int(2), int(8), int(9), int(10), int(11), int(12));
    if model != 3 {
        return Err(format!(
            "model type {model} is not a supervised classifier (3)"
        ));
    }
    if !(1..=4096).contains(&dim)
        || !(1..=4).contains(&loss)
        || !(0..=100_000_000).contains(&bucket)
        || !(0..=64).contains(&minn)
        || !(0..=64).contains(&maxn)
    {
        return Err(format!(
            "implausible arguments (dim {dim}, loss {loss}, bucket {bucket}, minn {minn}, maxn {maxn})"
        ));
    }
    Ok(())
}

/// Puts `text` on one line, drops NULs and control characters, collapses
/// white space, optionally splits off punctuation and lower-cases. `None`
/// when it has no letters.
fn prepare(text: &str, options: &DetectOptions) -> Option<String> {
    if !text.chars().any(char::is_alphabetic) {
        return None;
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut pending_space = false;
    for c in text.chars() {
        if c.is_whitespace() || c.is_control() {
            pending_space = !out.is_empty();
            continue;
        }
        let split = options.split_punctuation && is_separator_punct(c);
        if (pending_space || split) && !out.is_empty() && !out.ends_with(' ') {
            out.push(' ');
        }
        pending_space = false;
        if options.lowercase {
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
        if split {
            pending_space = true;
        }
    }
    if options.end_of_line {
        out.push('\n');
    }
    Some(out)
}

/// Punctuation and symbols that end a word: neither letters, digits,
/// combining marks (Indic vowel signs, viramas, Thai tone marks), the
/// zero-width (non-)joiners, nor the word-internal apostrophes and hyphens.
fn is_separator_punct(c: char) -> bool {
    !(c.is_alphanumeric()
        || unicode_normalization::char::is_combining_mark(c)
        || matches!(
            c,
            '\'' | '\u{2019}'
                | '-'
                | '\u{2010}'
                | '\u{2011}'
                | '\u{200C}'
                | '\u{200D}'
                | '\u{00B7}'
        ))
}

/// Units per script, for the script rules (see [`ScriptRule`]).
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
struct ScriptUnits {
    total: u32,
    hangul: u32,
    kana: u32,
    han: u32,
    greek: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Script {
    Hangul,
    Kana,
    Han,
    Greek,
    Other,
}

fn script_of(c: char) -> Script {
    match u32::from(c) {
        0x1100..=0x11FF | 0x3130..=0x318F | 0xA960..=0xA97F | 0xAC00..=0xD7FF => Script::Hangul,
        0x3040..=0x309F | 0x30A0..=0x30FF | 0x31F0..=0x31FF | 0xFF66..=0xFF9F => Script::Kana,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x323AF => Script::Han,
        0x0370..=0x03FF | 0x1F00..=0x1FFF => Script::Greek,
        _ => Script::Other,
    }
}

fn count_units(text: &str) -> ScriptUnits {
    let mut u = ScriptUnits::default();
    // Script of the word being read, for alphabetic scripts.
    let mut in_word: Option<Script> = None;
    for c in text.chars() {
        if !c.is_alphabetic() {
            if !unicode_normalization::char::is_combining_mark(c) {
                in_word = None;
            }
            continue;
        }
        let script = script_of(c);
        let new_unit = match script {
            Script::Hangul | Script::Kana | Script::Han => {
                in_word = None;
                true
            }
            Script::Greek | Script::Other => {
                let new = in_word != Some(script);
                in_word = Some(script);
                new
            }
        };
        if new_unit {
            u.total += 1;
            match script {
                Script::Hangul => u.hangul += 1,
                Script::Kana => u.kana += 1,
                Script::Han => u.han += 1,
                Script::Greek => u.greek += 1,
                Script::Other => {}
            }
        }
    }
    u
}

/// Written Cantonese or Wu, told by characters that standard written
/// Chinese does not use (characters shared with Mandarin words, such as
/// 係 in 關係, 阿 in 阿拉伯 or 垃 in 垃圾, are left out).
fn han_dialect(text: &str) -> Option<&'static str> {
    const CANTONESE: &str = "嘅唔咗喺佢嚟啲冇咁嘢噉畀哋嗰諗乜咩喎㗎啱搵揾冚攞睇";
    const WU: &str = "侬儂搿覅㑚";
    if text.chars().any(|c| CANTONESE.contains(c)) {
        Some("yue")
    } else if text.chars().any(|c| WU.contains(c)) {
        Some("wuu")
    } else {
        None
    }
}

/// The language the script rules decide, with the deciding script's share.
fn script_decision(
    text: &str,
    options: &DetectOptions,
    top: Option<&Detection>,
) -> Option<(Lang, f32)> {
    if options.script_rules.is_empty() {
        return None;
    }
    let u = count_units(text);
    if u.total == 0 {
        return None;
    }
    let share = |n: u32| n as f32 / u.total as f32;
    let min = options.script_share;
    for rule in &options.script_rules {
        let decided = match rule {
            ScriptRule::Kana if u.kana > 0 && share(u.kana + u.han) >= min => {
                Some(("ja", share(u.kana + u.han)))
            }
            ScriptRule::Hangul if share(u.hangul) >= min => Some(("ko", share(u.hangul))),
            ScriptRule::Greek if share(u.greek) >= min => Some(("el", share(u.greek))),
            ScriptRule::Chinese if u.kana == 0 && u.hangul == 0 && share(u.han) >= min => {
                match han_dialect(text) {
                    Some(code) => Some((code, share(u.han))),
                    None => {
                        let confident_dialect = top.is_some_and(|d| {
                            matches!(d.lang.as_str(), "yue" | "wuu")
                                && d.confidence >= HAN_DIALECT_MIN_CONFIDENCE
                        });
                        (!confident_dialect).then(|| ("zh", share(u.han)))
                    }
                }
            }
            _ => None,
        };
        if let Some((code, s)) = decided {
            // The codes above are all valid language codes.
            if let Ok(lang) = Lang::parse(code) {
                return Some((lang, s));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_labels_map_deliberately() {
        assert_eq!(label_to_lang("__label__sh").unwrap().as_str(), "hbs");
        assert_eq!(label_to_lang("__label__als").unwrap().as_str(), "gsw");
        assert_eq!(label_to_lang("__label__bh").unwrap().as_str(), "bho");
        assert_eq!(label_to_lang("__label__nah").unwrap().as_str(), "nah");
        assert_eq!(label_to_lang("__label__wuu").unwrap().as_str(), "wuu");
        assert_eq!(label_to_lang("__label__yue").unwrap().as_str(), "yue");
        assert_eq!(label_to_lang("__label__zh").unwrap().as_str(), "zh");
        assert_eq!(label_to_lang("__label__eml").unwrap().as_str(), "eml");
        assert_eq!(label_to_lang("__label__en").unwrap().as_str(), "en");
        assert!(label_to_lang("__label__xx").is_err());
    }

    #[test]
    fn prepare_flattens_and_rejects_letterless_text() {
        let raw = DetectOptions::raw();
        assert_eq!(
            prepare("  Hello\nWorld\t\0!  ", &raw).unwrap(),
            "Hello World !"
        );
        let lower = DetectOptions {
            lowercase: true,
            ..DetectOptions::raw()
        };
        assert_eq!(prepare("Ärger\r\nIST", &lower).unwrap(), "ärger ist");
        let split = DetectOptions {
            split_punctuation: true,
            ..DetectOptions::raw()
        };
        assert_eq!(
            prepare("Je,nchi ya \"Tanzania\"?", &split).unwrap(),
            "Je , nchi ya \" Tanzania \" ?"
        );
        assert_eq!(prepare("뭘 좋아해?", &split).unwrap(), "뭘 좋아해 ?");
        // Marks, apostrophes and hyphens stay inside their words.
        assert_eq!(
            prepare("हिन्दी l'homme e-mail", &split).unwrap(),
            "हिन्दी l'homme e-mail"
        );
        assert!(prepare("", &raw).is_none());
        assert!(prepare("12, 3.5 -- ?! 😀", &raw).is_none());
    }

    #[test]
    fn script_units() {
        let u = count_units("BTS의 리더는 누구?");
        assert_eq!((u.total, u.hangul), (7, 6));
        let u = count_units("東京タワーはどこ");
        assert_eq!((u.total, u.han, u.kana), (8, 2, 6));
        let u = count_units("Energiprojekt AB公司位于何处?");
        assert_eq!((u.total, u.han), (8, 6));
        // A Greek word is one unit; a combining accent does not split it.
        let u = count_units("Η Αθήνα, e\u{301}te");
        assert_eq!((u.total, u.greek), (3, 2));
    }

    #[test]
    fn chinese_dialect_characters() {
        assert_eq!(han_dialect("佢哋喺邊度？"), Some("yue"));
        assert_eq!(han_dialect("侬好"), Some("wuu"));
        assert_eq!(han_dialect("伊朗的首都是哪里？关系，垃圾，阿拉伯"), None);
    }

    #[test]
    fn load_reports_missing_and_foreign_files() {
        let missing = Path::new("/nonexistent/xlqa/lid.176.ftz");
        let err = LangId::load(missing).unwrap_err();
        assert!(matches!(err, LangIdError::NotFound { .. }));
        assert!(err.to_string().contains("/nonexistent/xlqa/lid.176.ftz"));

        let dir = std::env::temp_dir().join(format!("xlqa-langid-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bogus = dir.join("bogus.ftz");
        std::fs::write(&bogus, b"this is not a fastText model at all").unwrap();
        let err = LangId::load(&bogus).unwrap_err();
        assert!(matches!(err, LangIdError::NotFastText { .. }), "{err}");
        assert!(err.to_string().contains("bogus.ftz"));
        std::fs::write(&bogus, b"abc").unwrap();
        assert!(matches!(
            LangId::load(&bogus).unwrap_err(),
            LangIdError::NotFastText { .. }
        ));
        // The right magic and version, then garbage arguments.
        let mut fake = Vec::new();
        fake.extend_from_slice(&FASTTEXT_MAGIC.to_le_bytes());
        fake.extend_from_slice(&12i32.to_le_bytes());
        fake.extend_from_slice(&[0xFF; 64]);
        std::fs::write(&bogus, &fake).unwrap();
        let err = LangId::load(&bogus).unwrap_err();
        assert!(
            err.to_string().contains("not a supervised classifier"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn model() -> LangId {
        let home = xlqa_models::install::ModelHome::from_env().unwrap();
        let path = home.ensure(&xlqa_models::install::LID_176).unwrap();
        LangId::load(&path).unwrap()
    }

    fn lang(id: &LangId, text: &str) -> String {
        id.detect(text)
            .map(|d| d.lang.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn every_lid176_label_maps_to_a_distinct_language() {
        let id = model();
        assert_eq!(id.model_id(), "fasttext-lid.176");
        assert_eq!(id.labels.len(), 176);
        let langs = id.languages();
        assert_eq!(langs.len(), 176, "two labels mapped to one language");
        for code in [
            "hbs", "gsw", "bho", "nah", "wuu", "yue", "zh", "en", "sw", "eml",
        ] {
            assert!(langs.iter().any(|l| l.as_str() == code), "{code} missing");
        }
        for bad in ["sh", "als", "bh"] {
            assert!(!langs.iter().any(|l| l.as_str() == bad), "{bad} kept");
        }
    }

    #[test]
    fn detects_common_languages() {
        let id = model();
        let cases = [
            ("en", "Which river flows through the middle of Paris?"),
            ("en", "Who sent me a telegram?"),
            (
                "de",
                "Wie viele Punkte gab die Verteidigung der Panthers ab?",
            ),
            ("fr", "Quelle est la capitale de la France ?"),
            ("es", "¿Cuántos habitantes tiene la ciudad de Madrid?"),
            ("ru", "Сколько лет было Пушкину, когда он умер?"),
            ("ar", "ما هي عاصمة المملكة العربية السعودية؟"),
            ("hi", "भारत की राजधानी क्या है?"),
            ("el", "Ποια είναι η πρωτεύουσα της Ελλάδας;"),
            ("el", "Τρώω."),
            ("th", "เมืองหลวงของประเทศไทยคืออะไร"),
            ("ja", "東京タワーの高さはどれくらいですか？"),
            ("ko", "뭘 좋아해?"),
            ("zh", "哪个部门保管服装设计图纸方案？"),
            ("zh", "Energiprojekt AB公司位于何处?"),
            ("yue", "佢哋喺邊度？"),
            (
                "sw",
                "Mji mkuu wa Tanzania ni Dodoma na mji mkubwa zaidi ni Dar es Salaam.",
            ),
        ];
        for (want, text) in cases {
            assert_eq!(lang(&id, text), want, "{text}");
        }
        let d = id
            .detect("Which river flows through the middle of Paris?")
            .unwrap();
        assert!(d.confidence > 0.5 && d.confidence <= 1.0, "{d:?}");
        // Multi-line text is read as one line.
        assert_eq!(
            lang(&id, "Das ist ein Haus.\nEs ist sehr alt und groß."),
            "de"
        );
    }

    #[test]
    fn none_only_without_letters() {
        let id = model();
        for text in ["", "   ", "12345", "3.14 + 2 = 5.14 !?", "😀 🎉", "\n\t"] {
            assert_eq!(id.detect(text), None, "{text:?}");
        }
        for text in ["a", "Ω", "ㅋ", "x1", "Wilcume be Tatoeba", "Qceɛ!"] {
            assert!(id.detect(text).is_some(), "{text:?}");
        }
    }

    #[test]
    fn detect_top_is_sorted_and_distinct() {
        let id = model();
        let top = id.detect_top("Der Hund läuft schnell über die Straße.", 5);
        assert_eq!(top.len(), 5);
        assert_eq!(top[0].lang.as_str(), "de");
        for w in top.windows(2) {
            assert!(w[0].confidence >= w[1].confidence, "{top:?}");
            assert_ne!(w[0].lang, w[1].lang);
        }
        assert!(id.detect_top("Hallo", 0).is_empty());
        // Labels below fastText's probability floor (1e-5) are not listed.
        let all = id.detect_top("Hallo Welt", 1000);
        assert!((10..=176).contains(&all.len()), "{}", all.len());
        // A script rule puts its language first without duplicating it.
        let top = id.detect_top("栉水母一天吃多少食物？", 3);
        assert_eq!(top[0].lang.as_str(), "zh");
        assert_eq!(top.iter().filter(|d| d.lang.as_str() == "zh").count(), 1);
        assert!(top.len() <= 3);
    }

    #[test]
    fn candidates_close_the_set() {
        let l = |c: &str| Lang::parse(c).unwrap();
        let text = "Je,nchi ya Tanzania ina majimbo ngapi?";
        let open = model();
        assert_ne!(
            lang(&open, text),
            "sw",
            "fastText alone gets this one wrong"
        );
        let closed = model().with_options(DetectOptions {
            candidates: Some(vec![l("sw"), l("en"), l("de")]),
            ..DetectOptions::default()
        });
        assert_eq!(lang(&closed, text), "sw");
        let top = closed.detect_top(text, 10);
        assert!(
            top.len() <= 3
                && top
                    .iter()
                    .all(|d| ["sw", "en", "de"].contains(&d.lang.as_str()))
        );
        // A script rule cannot answer a language outside the set.
        let latin = model().with_options(DetectOptions {
            candidates: Some(vec![l("en"), l("de")]),
            ..DetectOptions::default()
        });
        assert!(matches!(
            lang(&latin, "뭘 좋아해?").as_str(),
            "en" | "de" | ""
        ));
        let none = model().with_options(DetectOptions {
            candidates: Some(Vec::new()),
            ..DetectOptions::default()
        });
        assert_eq!(none.detect("Hello world"), None);
    }

    #[test]
    fn shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<LangId>();
        let id = model();
        let texts = [
            "Bonjour tout le monde",
            "Guten Morgen zusammen",
            "Доброе утро",
            "おはようございます",
        ];
        let expected: Vec<_> = texts.iter().map(|t| id.detect(t)).collect();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..200 {
                        let got: Vec<_> = texts.iter().map(|t| id.detect(t)).collect();
                        assert_eq!(got, expected);
                    }
                });
            }
        });
    }
}
