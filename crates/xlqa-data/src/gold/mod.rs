//! Gold question sets: one [`GoldSet`] of [`GoldItem`]s, one [`GoldFormat`],
//! one entry point [`read_gold`].
//!
//! Two evaluations read gold files, and they want different things from the
//! same file, so [`GoldOptions::purpose`] selects the reading:
//!
//! - [`GoldPurpose::Answers`] ([`answers`]): answer strings to score a
//!   predicted answer against (`xlqa eval qa`: EM / F1 / BLEU). SQuAD,
//!   XQuAD, TyDi GoldP, MKQA and XOR-TyDi/MIA. Answers are kept as given
//!   (repeated annotations too); an MKQA answer without text is `""`, "no
//!   answer"; MKQA's `zh_cn` is scored with `zh-Hans` rules. Errors:
//!   `'file' line N, field "x": message`.
//! - [`GoldPurpose::Passages`] ([`passages`]): answer strings to find in
//!   retrieved passages (`xlqa eval retrieval`), with the parallel answers
//!   of the other languages and a TREC topic id per question. XQuAD, MKQA,
//!   XOR-TyDi/MIA and answer-less question files. Answers are trimmed and
//!   deduplicated; MKQA answers without a string (`unanswerable`,
//!   `long_answer`, `binary`) are dropped and counted in a note; MKQA's
//!   `zh_cn` is `zh`. Errors: `file:line: message`.
//!
//! Both are strict: a wrong shape, a missing or empty field, a wrong type,
//! an unknown language code or a duplicate question is an error naming the
//! file, the line and the field.

pub mod answers;
pub mod passages;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Serialize;
use xlqa_core::Lang;

pub use answers::parse_lang_label;

use crate::error::Result;

/// The form of a gold file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GoldFormat {
    /// Detect from the file name and content.
    Auto,
    /// One SQuAD v1.1 JSON file of one language (answer scoring).
    Squad,
    /// XQuAD: a folder of `xquad.<lang>.json` or (answer scoring) one such
    /// file.
    Xquad,
    /// TyDi QA GoldP JSON, file or dev folder (answer scoring).
    Tydi,
    /// MKQA JSONL (optionally gzip-compressed).
    Mkqa,
    /// XOR-TyDi / MIA JSONL.
    Xor,
    /// xlqa question JSONL `{"id","question","lang"}` without answers
    /// (retrieval evaluation with qrels only).
    Questions,
}

impl GoldFormat {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            GoldFormat::Auto => "auto",
            GoldFormat::Squad => "squad",
            GoldFormat::Xquad => "xquad",
            GoldFormat::Tydi => "tydi",
            GoldFormat::Mkqa => "mkqa",
            GoldFormat::Xor => "xor",
            GoldFormat::Questions => "questions",
        }
    }
}

impl FromStr for GoldFormat {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(GoldFormat::Auto),
            "squad" => Ok(GoldFormat::Squad),
            "xquad" => Ok(GoldFormat::Xquad),
            "tydi" => Ok(GoldFormat::Tydi),
            "xor" | "mia" => Ok(GoldFormat::Xor),
            "mkqa" => Ok(GoldFormat::Mkqa),
            "questions" => Ok(GoldFormat::Questions),
            other => Err(format!(
                "unknown gold format \"{other}\": expected auto, squad, xquad, tydi, xor, mkqa or questions"
            )),
        }
    }
}

/// What the gold set is read for (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GoldPurpose {
    /// Scoring predicted answers (`xlqa eval qa`).
    Answers,
    /// Finding answers in retrieved passages (`xlqa eval retrieval`).
    Passages,
}

/// What to read.
#[derive(Clone, Debug)]
pub struct GoldOptions {
    pub purpose: GoldPurpose,
    pub format: GoldFormat,
    /// [`GoldPurpose::Answers`] only: for one SQuAD file, its language; for
    /// any other gold set, evaluate only this language label.
    pub lang: Option<String>,
    /// [`GoldPurpose::Passages`] only: the language of the answers of an
    /// `xor` file (default: the question's).
    pub answers_lang: Option<Lang>,
}

/// One question with its gold answers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GoldItem {
    /// The question id as in the file.
    pub id: String,
    /// The TREC topic id: the question id when it is unique in the set,
    /// else `<label>:<id>` (XQuAD and MKQA ids are shared by all
    /// languages); whitespace in ids becomes `_`, as `xlqa ask --run`
    /// writes. ([`GoldPurpose::Answers`]: the id as is.)
    pub qid: String,
    /// The question's language.
    pub lang: Lang,
    /// The language label results are grouped under and predictions are
    /// matched by (the canonical code, or MKQA's `zh_cn` / `zh_hk` /
    /// `zh_tw`).
    pub label: String,
    pub question: String,
    /// Gold answer strings (with aliases), in `answers_lang`; for
    /// [`GoldPurpose::Answers`] an empty string means "no answer".
    pub answers: Vec<String>,
    /// The language of the answers, whose normalization rules apply.
    pub answers_lang: Lang,
    /// Answers by language, `answers_lang` included.
    pub parallel: BTreeMap<Lang, Vec<String>>,
}

impl GoldItem {
    /// A question whose answers are in its own language `lang` only.
    pub fn single(
        id: String,
        label: String,
        lang: Lang,
        question: String,
        answers: Vec<String>,
    ) -> GoldItem {
        let parallel = BTreeMap::from([(lang.clone(), answers.clone())]);
        GoldItem {
            qid: id.clone(),
            id,
            label,
            answers_lang: lang.clone(),
            lang,
            question,
            answers,
            parallel,
        }
    }

    /// True when every gold answer is empty (an unanswerable question).
    pub fn no_answer(&self) -> bool {
        self.answers.iter().all(|a| a.is_empty())
    }

    /// The gold answers in `lang` (by primary subtag: `zh-Hant` and `zh`
    /// are one language here, as passages are labelled by primary tag).
    pub fn answers_in(&self, lang: &Lang) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for (l, a) in &self.parallel {
            if l.primary() == lang.primary() {
                for s in a {
                    if !out.contains(&s.as_str()) {
                        out.push(s);
                    }
                }
            }
        }
        out
    }
}

/// A loaded gold set.
#[derive(Clone, Debug, Serialize)]
pub struct GoldSet {
    pub path: PathBuf,
    /// The format actually read (never `Auto`).
    pub format: GoldFormat,
    pub items: Vec<GoldItem>,
    /// Things the user should know (trimmed language codes, dropped
    /// answers).
    pub notes: Vec<String>,
    /// [`GoldPurpose::Answers`]: records whose language code had
    /// surrounding whitespace.
    pub lang_codes_trimmed: usize,
}

impl GoldSet {
    /// Keeps the first `n` questions of each language label (file order).
    pub fn limit_per_lang(&mut self, n: usize) {
        let mut seen: HashMap<String, usize> = HashMap::new();
        self.items.retain(|it| {
            let c = seen.entry(it.label.clone()).or_default();
            *c += 1;
            *c <= n
        });
    }
}

/// Reads a gold set for `opts.purpose` (see the module doc).
pub fn read_gold(path: &Path, opts: &GoldOptions) -> Result<GoldSet> {
    let format = match opts.format {
        GoldFormat::Auto => detect_format(opts.purpose, path)?,
        f => f,
    };
    match opts.purpose {
        GoldPurpose::Answers => answers::read(path, format, opts),
        GoldPurpose::Passages => passages::read(path, format, opts),
    }
}

/// The format of a gold file as `purpose` reads it.
pub fn detect_format(purpose: GoldPurpose, path: &Path) -> Result<GoldFormat> {
    match purpose {
        GoldPurpose::Answers => answers::detect_format(path),
        GoldPurpose::Passages => passages::detect_format(path),
    }
}

/// The distinct language labels, sorted.
pub fn langs_of(items: &[GoldItem]) -> Vec<String> {
    let mut v: Vec<String> = items
        .iter()
        .map(|q| q.label.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    v.sort();
    v
}
