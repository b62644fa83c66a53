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
//! newline) and lower-cased (measured: fastText's n-grams were learnt mostly
//! from lower-case running text; see `crates/xlqa-eval/tests/langid_real.rs`).
//! A few script rules then correct the model where the writing system
//! decides the language among the ones lid.176 knows: see [`ScriptRule`].

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
/// `yue`, `wuu`, `nah`, `arz` as they are).
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
    // `eml` (Emilian-Romagnol) was split by ISO 639-3 in 2009 into `egl`
    // (Emilian) and `rgn` (Romagnol); the model cannot tell them apart, so
    // the retired code is kept as the honest label.
    ("eml", "eml"),
];

/// Errors of [`LangId::load`].
#[derive(Debug, thiserror::Error)]
pub enum LangIdError {
    /// The model file does not exist.
    #[error("language-id model '{path}' not found: install it with `xlqa_models::install::ModelHome::from_env()?.ensure(&LID_176)` (or `xlqa install`)")]
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
    /// decided the language, it is the share of the text's letters written
    /// in the deciding script.
    pub confidence: f32,
}

/// Corrections by writing system, applied after fastText.
///
/// Each rule fires only when the given script holds at least
/// [`DetectOptions::script_share`] of the letters of the text. Which rules
/// are on by default was decided by measurement on XQuAD and TyDi GoldP
/// (see `crates/xlqa-eval/tests/langid_real.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScriptRule {
    /// Hangul → `ko` (the only lid.176 language written in Hangul).
    Hangul,
    /// Any hiragana or katakana (with Han or kana as the main script) → `ja`.
    Kana,
    /// Thai script → `th`.
    Thai,
    /// Greek script → `el`.
    Greek,
    /// Han only, no kana or Hangul → `zh` unless fastText chose `yue`, `wuu`
    /// or `ja`... see [`DetectOptions`]; Mandarin is the default reading.
    HanOnly,
}

impl ScriptRule {
    /// All rules, in the order they are tried.
    pub const ALL: [ScriptRule; 5] = [
        ScriptRule::Kana,
        ScriptRule::Hangul,
        ScriptRule::Thai,
        ScriptRule::Greek,
        ScriptRule::HanOnly,
    ];
}

impl fmt::Display for ScriptRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            ScriptRule::Hangul => "hangul",
            ScriptRule::Kana => "kana",
            ScriptRule::Thai => "thai",
            ScriptRule::Greek => "greek",
            ScriptRule::HanOnly => "han-only",
        };
        f.write_str(name)
    }
}

/// How [`LangId`] prepares text and corrects the model.
#[derive(Clone, Debug, PartialEq)]
pub struct DetectOptions {
    /// Lower-case the text before fastText.
    pub lowercase: bool,
    /// Script rules to apply after fastText.
    pub script_rules: Vec<ScriptRule>,
    /// Share of letters (0..=1) a script must hold for its rule to fire.
    pub script_share: f32,
}

impl Default for DetectOptions {
    fn default() -> Self {
        DetectOptions {
            lowercase: true,
            script_rules: ScriptRule::ALL.to_vec(),
            script_share: 0.5,
        }
    }
}

impl DetectOptions {
    /// fastText alone: newlines flattened, nothing else.
    pub fn raw() -> Self {
        DetectOptions {
            lowercase: false,
            script_rules: Vec::new(),
            script_share: 0.5,
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
        // Check the header ourselves: the C++ loader can abort the process
        // on files that are not fastText models.
        let mut header = [0u8; 8];
        if let Err(e) = file.read_exact(&mut header) {
            return Err(LangIdError::NotFastText {
                path,
                detail: format!("shorter than a fastText header: {e}"),
            });
        }
        let magic = i32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let version = i32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if magic != FASTTEXT_MAGIC {
            return Err(LangIdError::NotFastText {
                path,
                detail: format!("magic number {magic}, expected {FASTTEXT_MAGIC}"),
            });
        }
        if !(1..=12).contains(&version) {
            return Err(LangIdError::NotFastText {
                path,
                detail: format!("unsupported format version {version}"),
            });
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

    /// The most likely language of `text`. `None` only when the text has no
    /// letters at all (empty, digits, punctuation, symbols).
    pub fn detect(&self, text: &str) -> Option<Detection> {
        self.detect_top(text, 1).into_iter().next()
    }

    /// The `k` most likely languages, best first (fewer if the model knows
    /// fewer). Empty when the text has no letters or `k` is 0.
    pub fn detect_top(&self, text: &str, k: usize) -> Vec<Detection> {
        if k == 0 {
            return Vec::new();
        }
        let Some(prepared) = prepare(text, self.options.lowercase) else {
            return Vec::new();
        };
        let want = k.min(self.labels.len()).max(1);
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
                .collect(),
            Err(_) => Vec::new(),
        };
        if let Some((lang, share)) = script_decision(text, &self.options, out.first()) {
            let confidence = match out.iter().position(|d| d.lang == lang) {
                Some(i) => out.remove(i).confidence.max(share),
                None => share,
            };
            out.insert(0, Detection { lang, confidence });
            out.truncate(k);
        }
        out
    }
}

/// Puts `text` on one line, drops NULs and control characters, collapses
/// white space and optionally lower-cases. `None` when it has no letters.
fn prepare(text: &str, lowercase: bool) -> Option<String> {
    if !text.chars().any(char::is_alphabetic) {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars() {
        if c.is_whitespace() || c.is_control() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        if lowercase {
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// Letter counts per script, for the script rules.
#[derive(Default, Debug, Clone, Copy)]
struct ScriptCounts {
    letters: u32,
    hangul: u32,
    kana: u32,
    han: u32,
    thai: u32,
    greek: u32,
}

fn count_scripts(text: &str) -> ScriptCounts {
    let mut c = ScriptCounts::default();
    for ch in text.chars() {
        if !ch.is_alphabetic() {
            continue;
        }
        c.letters += 1;
        match u32::from(ch) {
            0x1100..=0x11FF | 0x3130..=0x318F | 0xA960..=0xA97F | 0xAC00..=0xD7AF
            | 0xD7B0..=0xD7FF => c.hangul += 1,
            0x3040..=0x309F | 0x30A0..=0x30FF | 0x31F0..=0x31FF | 0xFF66..=0xFF9F => c.kana += 1,
            0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x323AF => c.han += 1,
            0x0E00..=0x0E7F => c.thai += 1,
            0x0370..=0x03FF | 0x1F00..=0x1FFF => c.greek += 1,
            _ => {}
        }
    }
    c
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
    let c = count_scripts(text);
    if c.letters == 0 {
        return None;
    }
    let share = |n: u32| n as f32 / c.letters as f32;
    let min = options.script_share;
    let top_is = |code: &str| top.is_some_and(|d| d.lang.as_str() == code);
    for rule in &options.script_rules {
        let decided = match rule {
            ScriptRule::Kana if c.kana > 0 && share(c.kana + c.han) >= min => {
                Some(("ja", share(c.kana + c.han)))
            }
            ScriptRule::Hangul if share(c.hangul) >= min => Some(("ko", share(c.hangul))),
            ScriptRule::Thai if share(c.thai) >= min => Some(("th", share(c.thai))),
            ScriptRule::Greek if share(c.greek) >= min => Some(("el", share(c.greek))),
            ScriptRule::HanOnly
                if c.kana == 0
                    && c.hangul == 0
                    && share(c.han) >= min
                    && !top_is("yue")
                    && !top_is("wuu") =>
            {
                Some(("zh", share(c.han)))
            }
            _ => None,
        };
        if let Some((code, s)) = decided {
            // The codes above are valid ISO 639-1 codes.
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
        assert_eq!(prepare("  Hello\nWorld\t\0!  ", false).unwrap(), "Hello World !");
        assert_eq!(prepare("Ärger\r\nIST", true).unwrap(), "ärger ist");
        assert!(prepare("", true).is_none());
        assert!(prepare("12, 3.5 -- ?! 😀", true).is_none());
    }

    #[test]
    fn script_counts() {
        let c = count_scripts("BTS의 리더는 누구?");
        assert_eq!(c.letters, 9);
        assert_eq!(c.hangul, 6);
        let c = count_scripts("東京タワーはどこ");
        assert_eq!((c.han, c.kana), (2, 6));
        let c = count_scripts("Αθήνα ภาษาไทย");
        assert_eq!((c.greek, c.thai), (5, 7));
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
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
