//! Training data for cross-lingual alignment of the sentence encoder.
//!
//! Three sources of the shared data folder (`shared/DATA.md`) are read, all
//! of them *training* material:
//!
//! - **Tatoeba** (the LASER test set, `tatoeba_laser_v1/`): line-aligned
//!   `tatoeba.{xxx}-eng.{xxx}` / `tatoeba.{xxx}-eng.eng` files, one
//!   sentence per line; [`read_tatoeba`] gives [`PairKind::Translation`]
//!   pairs `xx → en`.
//! - **XOR-TyDi question translations** (`xor_tydi_question_translations/`):
//!   human English translations of TyDi *train* questions,
//!   `{xx}-en/{xx}.txt` / `{xx}-en/en.txt`, line-aligned;
//!   [`read_xor_translations`] gives [`PairKind::Translation`] pairs
//!   `xx → en`.
//! - **TyDi QA GoldP train** (`tydiqa_goldp_v1.1/train_partial/`, SQuAD-like
//!   JSON): [`read_tydi_train`] gives [`PairKind::QuestionAnswer`] pairs
//!   (question → the sentence of the gold passage that holds the start of
//!   the first answer), plus, for questions that XOR-TyDi translated, the
//!   cross-lingual pair (English translation → that sentence).
//!
//! XQuAD, XQuAD-R (`lareqa_xquad_r/`) and TyDi GoldP **dev** are evaluation
//! data: no reader here opens them ([`read_tydi_train`] refuses any
//! `*_dev*.json` file and a `dev/` folder).
//!
//! ## Conventions
//!
//! - Lines are split at `\n` (a trailing `\r` is removed); each side is
//!   trimmed of surrounding white space. A pair with an empty (or
//!   all-white-space) side is skipped and counted in
//!   [`ReadSummary::skipped`] under `empty_line:{xx}-en`.
//! - `per_lang = Some(n)` keeps the first `n` lines (Tatoeba, XOR) or the
//!   first `n` questions in file order (TyDi) of each language; skipped
//!   lines or questions among them are not replaced by later ones, so the
//!   selection is deterministic. The whole file is still validated.
//! - `langs` non-empty: only those languages are read; a requested language
//!   with no file is an error ([`DataError::LangNotFound`]).
//! - Summary keys: a monolingual pair counts under its language (`ko`), a
//!   cross-lingual one under `{a_lang}-{b_lang}` (`de-en`, `en-ko`).
//! - TyDi `answer_start` is a **character** (Unicode scalar value) offset,
//!   as in SQuAD; it is converted to a byte offset before it is compared
//!   with the byte ranges of [`xlqa_text::sentence::split_sentences`].
//!
//! Every error names the file and the line (text files) or the JSON path
//! (e.g. `data[3].paragraphs[0].qas[1].answers[0].answer_start`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde_json::Value;
use xlqa_core::Lang;
use xlqa_text::sentence::split_sentences;

use crate::error::{DataError, Result};
use crate::io::{char_to_byte, list_dir, read_json, read_lines, JsonAt};
use crate::squad::TYDI_LANGUAGES;

/// One training pair: an anchor text and its positive, each with its language.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Pair {
    /// The anchor (a sentence or a question).
    pub a: String,
    pub a_lang: Lang,
    /// The positive for `a`.
    pub b: String,
    pub b_lang: Lang,
    pub kind: PairKind,
    /// Where the anchor comes from: `{folder}/{file}:{line}` for text files
    /// (1-based line, e.g. `tatoeba_laser_v1/tatoeba.deu-eng.deu:17`),
    /// `{folder}/{file}:{question id}` for TyDi (with `+xor_en` appended for
    /// the English-translation anchor).
    pub source: String,
    /// Texts in `b`'s language that look like `b` but do not answer `a`
    /// (TyDi: the other sentences of the answer's passage, the negatives
    /// that DPR's loss calls "hard"); empty for translations.
    pub hard_negatives: Vec<String>,
}

/// What relates `b` to `a`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PairKind {
    /// `a` and `b` say the same thing (in two languages).
    Translation,
    /// `a` is a question, `b` the sentence of its passage holding the answer.
    QuestionAnswer,
}

/// What a reader read, kept and skipped.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ReadSummary {
    /// Pairs returned, by language key (see the module documentation:
    /// `ko` for monolingual, `de-en` / `en-ko` for cross-lingual pairs).
    pub pairs_by_lang: BTreeMap<String, usize>,
    /// Lines (Tatoeba, XOR) or questions (TyDi) considered, after the
    /// `per_lang` limit, by the language of the file.
    pub read_by_lang: BTreeMap<String, usize>,
    /// Skipped items: `{reason}:{language key}` → count. Reasons:
    /// `empty_line`, `no_answer`, `answer_offset_out_of_range`,
    /// `answer_in_no_sentence`.
    pub skipped: BTreeMap<String, usize>,
    /// Anomalies that did not drop the item: `{reason}:{language}` → count.
    /// Reasons: `answer_text_mismatch` (the answer text is not found at
    /// `answer_start`; the pair is still built from `answer_start`),
    /// `answer_spans_sentences` (the answer starts in one sentence and ends
    /// in a later one; the positive is then those sentences, see
    /// [`read_tydi_train`]).
    pub warnings: BTreeMap<String, usize>,
    /// Every file read, in reading order.
    pub files: Vec<PathBuf>,
}

impl ReadSummary {
    /// Adds the counts and files of `other` to `self`.
    pub fn merge(&mut self, other: ReadSummary) {
        for (target, source) in [
            (&mut self.pairs_by_lang, other.pairs_by_lang),
            (&mut self.read_by_lang, other.read_by_lang),
            (&mut self.skipped, other.skipped),
            (&mut self.warnings, other.warnings),
        ] {
            for (k, v) in source {
                *target.entry(k).or_default() += v;
            }
        }
        self.files.extend(other.files);
    }

    /// Total number of pairs returned.
    pub fn total_pairs(&self) -> usize {
        self.pairs_by_lang.values().sum()
    }

    fn count_pair(&mut self, pair: &Pair) {
        *self
            .pairs_by_lang
            .entry(lang_key(&pair.a_lang, &pair.b_lang))
            .or_default() += 1;
    }

    fn skip(&mut self, reason: &str, key: &str) {
        *self.skipped.entry(format!("{reason}:{key}")).or_default() += 1;
    }

    fn warn(&mut self, reason: &str, key: &str) {
        *self.warnings.entry(format!("{reason}:{key}")).or_default() += 1;
    }
}

/// Reads the Tatoeba (LASER test set) `xx ↔ eng` pairs of `dir`: files
/// `tatoeba.{xxx}-eng.{xxx}` / `tatoeba.{xxx}-eng.eng`, line-aligned, in code
/// order. Other files (README, SOURCE) are ignored.
///
/// Codes are ISO 639-3 and canonicalized with [`Lang::parse`] (`deu` → `de`,
/// `cmn` → `zh`, `swh` → `sw`). A code it rejects is an error naming the
/// file, unless `langs` is non-empty (the file then cannot be one asked
/// for and is not read). `a` is the `xx` sentence, `b` the English one.
pub fn read_tatoeba(
    dir: &Path,
    langs: &[Lang],
    per_lang: Option<usize>,
) -> Result<(Vec<Pair>, ReadSummary)> {
    let label = dir_label(dir);
    // raw code → (xx file, eng file)
    let mut found: BTreeMap<String, (Option<PathBuf>, Option<PathBuf>)> = BTreeMap::new();
    for path in list_dir(dir)? {
        if !path.is_file() {
            continue;
        }
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(rest) = name.strip_prefix("tatoeba.") else {
            continue;
        };
        let bad = |message: &str| DataError::BadFileName {
            path: path.clone(),
            message: format!("{message} (expected tatoeba.{{xxx}}-eng.{{xxx}} or .eng)"),
        };
        let (pair, ext) = rest.split_once('.').ok_or_else(|| bad("no extension"))?;
        let code = pair
            .strip_suffix("-eng")
            .filter(|c| !c.is_empty())
            .ok_or_else(|| bad("the pair is not '{xxx}-eng'"))?;
        let entry = found.entry(code.to_string()).or_default();
        if ext == "eng" {
            entry.1 = Some(path.clone());
        } else if ext == code {
            entry.0 = Some(path.clone());
        } else {
            return Err(bad(&format!(
                "extension '{ext}' is neither '{code}' nor 'eng'"
            )));
        }
    }
    if found.is_empty() {
        return Err(DataError::NoFiles {
            dir: dir.to_path_buf(),
            what: "tatoeba.{xxx}-eng.{xxx} files".to_string(),
        });
    }
    let mut jobs = Vec::new();
    for (code, (xx, eng)) in found {
        let any = xx.clone().or_else(|| eng.clone()).unwrap_or_default();
        let xx = xx.unwrap_or_else(|| dir.join(format!("tatoeba.{code}-eng.{code}")));
        let eng = eng.unwrap_or_else(|| dir.join(format!("tatoeba.{code}-eng.eng")));
        jobs.push(AlignedCandidate {
            code,
            name_path: any,
            xx,
            en: eng,
        });
    }
    let jobs = select_langs(dir, jobs, langs)?;
    read_aligned_all(&label, dir, jobs, per_lang)
}

/// Reads the XOR-TyDi human translations of TyDi train questions in `dir`:
/// sub-folders `{xx}-en/` holding `{xx}.txt` and `en.txt`, line-aligned, in
/// code order. Other entries are ignored. Same options and checks as
/// [`read_tatoeba`]; `a` is the `xx` question, `b` its English translation.
pub fn read_xor_translations(
    dir: &Path,
    langs: &[Lang],
    per_lang: Option<usize>,
) -> Result<(Vec<Pair>, ReadSummary)> {
    let label = dir_label(dir);
    let mut jobs = Vec::new();
    for path in list_dir(dir)? {
        if !path.is_dir() {
            continue;
        }
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(code) = name.strip_suffix("-en").filter(|c| !c.is_empty()) else {
            continue;
        };
        jobs.push(AlignedCandidate {
            code: code.to_string(),
            name_path: path.clone(),
            xx: path.join(format!("{code}.txt")),
            en: path.join("en.txt"),
        });
    }
    if jobs.is_empty() {
        return Err(DataError::NoFiles {
            dir: dir.to_path_buf(),
            what: "{xx}-en/ folders".to_string(),
        });
    }
    jobs.sort_by(|x, y| x.code.cmp(&y.code));
    let jobs = select_langs(dir, jobs, langs)?;
    read_aligned_all(&label, dir, jobs, per_lang)
}

/// A pair of line-aligned files found in a folder, before its code is
/// validated.
struct AlignedCandidate {
    /// The code as written in the name.
    code: String,
    /// The file or folder whose name holds the code (for errors).
    name_path: PathBuf,
    xx: PathBuf,
    en: PathBuf,
}

struct AlignedJob {
    lang: Lang,
    xx: PathBuf,
    en: PathBuf,
}

/// Parses the codes, applies the `langs` filter, rejects two files for one
/// language and languages asked for but absent.
fn select_langs(
    dir: &Path,
    candidates: Vec<AlignedCandidate>,
    langs: &[Lang],
) -> Result<Vec<AlignedJob>> {
    let mut jobs: Vec<AlignedJob> = Vec::new();
    let mut available = Vec::new();
    for c in candidates {
        let lang = match Lang::parse(&c.code) {
            Ok(lang) => lang,
            // A code that does not parse cannot be one of `langs`.
            Err(_) if !langs.is_empty() => continue,
            Err(source) => {
                return Err(DataError::BadLang {
                    path: c.name_path,
                    code: c.code,
                    source,
                })
            }
        };
        available.push(lang.to_string());
        if !langs.is_empty() && !langs.contains(&lang) {
            continue;
        }
        if let Some(prev) = jobs.iter().find(|j| j.lang == lang) {
            return Err(DataError::DuplicateLang {
                first: prev.xx.clone(),
                second: c.xx,
                lang: lang.to_string(),
            });
        }
        jobs.push(AlignedJob {
            lang,
            xx: c.xx,
            en: c.en,
        });
    }
    check_requested(dir, langs, &available)?;
    Ok(jobs)
}

fn check_requested(dir: &Path, langs: &[Lang], available: &[String]) -> Result<()> {
    for lang in langs {
        if !available.iter().any(|a| a == lang.as_str()) {
            return Err(DataError::LangNotFound {
                dir: dir.to_path_buf(),
                lang: lang.to_string(),
                available: available.join(" "),
            });
        }
    }
    Ok(())
}

fn read_aligned_all(
    label: &str,
    dir: &Path,
    jobs: Vec<AlignedJob>,
    per_lang: Option<usize>,
) -> Result<(Vec<Pair>, ReadSummary)> {
    let en = english();
    let mut pairs = Vec::new();
    let mut summary = ReadSummary::default();
    for job in jobs {
        for path in [&job.xx, &job.en] {
            if !path.is_file() {
                let partner = if path == &job.xx { &job.en } else { &job.xx };
                return Err(DataError::MissingPartner {
                    path: path.clone(),
                    partner: partner.clone(),
                });
            }
        }
        let xx_lines = read_lines(&job.xx)?;
        let en_lines = read_lines(&job.en)?;
        if xx_lines.len() != en_lines.len() {
            return Err(DataError::LineCountMismatch {
                left: job.xx.clone(),
                left_lines: xx_lines.len(),
                right: job.en.clone(),
                right_lines: en_lines.len(),
            });
        }
        summary.files.push(job.xx.clone());
        summary.files.push(job.en.clone());
        let key = lang_key(&job.lang, &en);
        summary.pairs_by_lang.entry(key.clone()).or_default();
        let source_file = relative_label(label, dir, &job.xx);
        let take = per_lang.unwrap_or(usize::MAX).min(xx_lines.len());
        *summary
            .read_by_lang
            .entry(job.lang.to_string())
            .or_default() += take;
        for (i, (a, b)) in xx_lines.iter().zip(&en_lines).take(take).enumerate() {
            let (a, b) = (a.trim(), b.trim());
            if a.is_empty() || b.is_empty() {
                summary.skip("empty_line", &key);
                continue;
            }
            let pair = Pair {
                a: a.to_string(),
                a_lang: job.lang.clone(),
                b: b.to_string(),
                b_lang: en.clone(),
                kind: PairKind::Translation,
                source: format!("{source_file}:{}", i + 1),
                hard_negatives: Vec::new(),
            };
            summary.count_pair(&pair);
            pairs.push(pair);
        }
    }
    Ok((pairs, summary))
}

/// Reads TyDi QA GoldP **train** files (`{language}_tydiqa_train.json`,
/// SQuAD-like JSON `data[].paragraphs[].{context, qas[].{id, question,
/// answers[].{text, answer_start}}}`) from `dir`, which may be the dataset
/// folder (its `train_partial/` is then read) or the train folder itself.
/// Files in name order; the language comes from the file-name prefix
/// (`korean_…` → `ko`) and every question id must start with it.
///
/// For each question: the pair (question → the sentence of the context
/// holding `answers[0].answer_start`), sentences from
/// [`split_sentences`] in the file's language. When the answer text is found
/// at its offset but ends in a later sentence (a break inside the answer,
/// mostly after an abbreviation such as `U.S.` or `Charles F.`), the
/// positive is the context from the start of the first sentence to the end
/// of the sentence holding the answer's last byte, so that it always holds
/// the whole answer; such questions are counted as the warning
/// `answer_spans_sentences`. Questions with no answer,
/// an offset past the end of the context, or an offset in white space
/// between sentences are skipped and counted. An answer text not found at
/// its offset is counted as a warning.
///
/// `translations` (question text → English translation, see
/// [`translation_map`]): for each question of a non-English file found in
/// it (after trimming), the cross-lingual pair (English translation → the
/// same answer sentence) is emitted as well, `a_lang` = `en`, counted under
/// `en-{xx}` (present, possibly 0, for every non-English file read when
/// `translations` is given).
///
/// Strict: a missing field, wrong type, empty id / question / context /
/// answer text, duplicate id, id of another language, unknown file-name
/// prefix, or a `*_dev*` file is an error.
pub fn read_tydi_train(
    dir: &Path,
    langs: &[Lang],
    per_lang: Option<usize>,
    translations: Option<&HashMap<String, String>>,
) -> Result<(Vec<Pair>, ReadSummary)> {
    let train = dir.join("train_partial");
    let dir = if train.is_dir() { train.as_path() } else { dir };
    if dir.file_name().is_some_and(|n| n == "dev") {
        return Err(DataError::EvalData {
            path: dir.to_path_buf(),
            what: "TyDi GoldP dev folder".to_string(),
        });
    }
    let label = dir_label(dir);
    let mut files: Vec<(Lang, &'static str, PathBuf)> = Vec::new();
    let mut paths: Vec<PathBuf> = list_dir(dir)?
        .into_iter()
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    for path in paths {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if name.contains("_dev") {
            return Err(DataError::EvalData {
                path,
                what: "TyDi GoldP dev file".to_string(),
            });
        }
        if !name.ends_with("_train.json") {
            return Err(DataError::BadFileName {
                path,
                message: "expected {language}_tydiqa_train.json".to_string(),
            });
        }
        let prefix = name.split('_').next().unwrap_or_default();
        let Some(&(language, code)) = TYDI_LANGUAGES.iter().find(|(n, _)| *n == prefix) else {
            return Err(DataError::BadFileName {
                path,
                message: format!(
                    "'{prefix}' is not a TyDi GoldP language name (expected one of: {})",
                    TYDI_LANGUAGES
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        };
        let lang = Lang::parse(code).map_err(|source| DataError::BadLang {
            path: path.clone(),
            code: code.to_string(),
            source,
        })?;
        if let Some((_, _, prev)) = files.iter().find(|(l, _, _)| *l == lang) {
            return Err(DataError::DuplicateLang {
                first: prev.clone(),
                second: path,
                lang: lang.to_string(),
            });
        }
        files.push((lang, language, path));
    }
    if files.is_empty() {
        return Err(DataError::NoFiles {
            dir: dir.to_path_buf(),
            what: "{language}_tydiqa_train.json files".to_string(),
        });
    }
    let available: Vec<String> = files.iter().map(|(l, _, _)| l.to_string()).collect();
    check_requested(dir, langs, &available)?;
    let mut pairs = Vec::new();
    let mut summary = ReadSummary::default();
    for (lang, language, path) in files {
        if !langs.is_empty() && !langs.contains(&lang) {
            continue;
        }
        let file = TydiFile {
            path: &path,
            source_file: relative_label(&label, dir, &path),
            lang: &lang,
            language,
        };
        file.read(per_lang, translations, &mut pairs, &mut summary)?;
        summary.files.push(path.clone());
    }
    Ok((pairs, summary))
}

struct TydiFile<'p> {
    path: &'p Path,
    source_file: String,
    lang: &'p Lang,
    /// TyDi language name, the question-id prefix.
    language: &'static str,
}

impl TydiFile<'_> {
    fn read(
        &self,
        per_lang: Option<usize>,
        translations: Option<&HashMap<String, String>>,
        pairs: &mut Vec<Pair>,
        summary: &mut ReadSummary,
    ) -> Result<()> {
        let root = read_json(self.path)?;
        let at = self.json();
        let en = english();
        let key = self.lang.to_string();
        let cross_key = lang_key(&en, self.lang);
        summary.pairs_by_lang.entry(key.clone()).or_default();
        if translations.is_some() && *self.lang != en {
            summary.pairs_by_lang.entry(cross_key.clone()).or_default();
        }
        let limit = per_lang.unwrap_or(usize::MAX);
        let mut seen_ids = HashSet::new();
        let mut n_questions = 0usize;
        let articles = at.array(&root, "data", "")?;
        for (ai, article) in articles.iter().enumerate() {
            let ap = format!("data[{ai}]");
            for (pi, paragraph) in at.array(article, "paragraphs", &ap)?.iter().enumerate() {
                let pp = format!("{ap}.paragraphs[{pi}]");
                let context = at.nonempty_string(paragraph, "context", &pp)?;
                let mut sentences: Option<Vec<Range<usize>>> = None;
                for (qi, qa) in at.array(paragraph, "qas", &pp)?.iter().enumerate() {
                    let qp = format!("{pp}.qas[{qi}]");
                    let id = at.nonempty_string(qa, "id", &qp)?;
                    if !seen_ids.insert(id.to_string()) {
                        return Err(at.err(&format!("{qp}.id"), format!("duplicate id '{id}'")));
                    }
                    if !id.starts_with(&format!("{}-", self.language)) {
                        return Err(at.err(
                            &format!("{qp}.id"),
                            format!(
                                "id '{id}' does not start with '{}-' (the file's language)",
                                self.language
                            ),
                        ));
                    }
                    let question = at.nonempty_string(qa, "question", &qp)?.trim();
                    let answers = self.answers(qa, &qp)?;
                    n_questions += 1;
                    if n_questions > limit {
                        continue; // validated, not used
                    }
                    *summary.read_by_lang.entry(key.clone()).or_default() += 1;
                    let Some(&(text, start)) = answers.first() else {
                        summary.skip("no_answer", &key);
                        continue;
                    };
                    let Some(byte) = char_to_byte(context, start).filter(|&b| b < context.len())
                    else {
                        summary.skip("answer_offset_out_of_range", &key);
                        continue;
                    };
                    let text_matches = context[byte..].starts_with(text);
                    if !text_matches {
                        summary.warn("answer_text_mismatch", &key);
                    }
                    let sentences =
                        sentences.get_or_insert_with(|| split_sentences(context, self.lang));
                    let Some(range) = sentences.iter().find(|r| r.start <= byte && byte < r.end)
                    else {
                        summary.skip("answer_in_no_sentence", &key);
                        continue;
                    };
                    // An answer cut by a sentence break (often an
                    // abbreviation: "U.S. | Highway 20") extends the
                    // positive to the sentence holding its last byte.
                    let mut end = range.end;
                    if text_matches && byte + text.len() > range.end {
                        summary.warn("answer_spans_sentences", &key);
                        let answer_end = byte + text.len();
                        end = sentences
                            .iter()
                            .filter(|r| r.start < answer_end)
                            .map(|r| r.end)
                            .max()
                            .unwrap_or(range.end);
                    }
                    let sentence = context[range.start..end].trim();
                    let source = format!("{}:{id}", self.source_file);
                    let hard_negatives: Vec<String> = sentences
                        .iter()
                        .filter(|r| r.end <= range.start || r.start >= end)
                        .map(|r| context[r.clone()].trim())
                        .filter(|t| t.chars().count() >= 10)
                        .map(str::to_string)
                        .collect();
                    let pair = Pair {
                        a: question.to_string(),
                        a_lang: self.lang.clone(),
                        b: sentence.to_string(),
                        b_lang: self.lang.clone(),
                        kind: PairKind::QuestionAnswer,
                        source: source.clone(),
                        hard_negatives: hard_negatives.clone(),
                    };
                    summary.count_pair(&pair);
                    pairs.push(pair);
                    if *self.lang == en {
                        continue;
                    }
                    if let Some(english_q) = translations.and_then(|t| t.get(question)) {
                        let pair = Pair {
                            a: english_q.trim().to_string(),
                            a_lang: en.clone(),
                            b: sentence.to_string(),
                            b_lang: self.lang.clone(),
                            kind: PairKind::QuestionAnswer,
                            source: format!("{source}+xor_en"),
                            hard_negatives,
                        };
                        summary.count_pair(&pair);
                        pairs.push(pair);
                    }
                }
            }
        }
        Ok(())
    }

    /// All answers of a question, validated: `(text, answer_start in chars)`.
    fn answers<'v>(&self, qa: &'v Value, qp: &str) -> Result<Vec<(&'v str, usize)>> {
        let at = self.json();
        let mut out = Vec::new();
        for (ni, answer) in at.array(qa, "answers", qp)?.iter().enumerate() {
            let np = format!("{qp}.answers[{ni}]");
            let text = at.nonempty_string(answer, "text", &np)?;
            let start = at.uint(answer, "answer_start", &np)?;
            out.push((text, start));
        }
        Ok(out)
    }

    fn json(&self) -> JsonAt<'_> {
        JsonAt { path: self.path }
    }
}

/// Anchor text → its English side, from the [`PairKind::Translation`] pairs
/// with exactly one English side (`xx → en` as the readers give them, or
/// `en → xx`). The first pair of an anchor wins (XOR repeats some questions
/// with different translations). Meant for [`read_tydi_train`] with the
/// pairs of [`read_xor_translations`].
pub fn translation_map(pairs: &[Pair]) -> HashMap<String, String> {
    let en = english();
    let mut map = HashMap::new();
    for p in pairs {
        if p.kind != PairKind::Translation {
            continue;
        }
        let (other, english_side) = if p.b_lang == en && p.a_lang != en {
            (&p.a, &p.b)
        } else if p.a_lang == en && p.b_lang != en {
            (&p.b, &p.a)
        } else {
            continue;
        };
        map.entry(other.trim().to_string())
            .or_insert_with(|| english_side.trim().to_string());
    }
    map
}

/// Removes every pair with a side (trimmed) in `texts`, e.g. the questions
/// of an evaluation set (XOR train translations share 22 ko and 26 bn
/// questions with XOR-Retrieve dev). Returns the kept pairs and how many
/// were removed.
pub fn drop_overlapping(pairs: Vec<Pair>, texts: &HashSet<String>) -> (Vec<Pair>, usize) {
    let before = pairs.len();
    let kept: Vec<Pair> = pairs
        .into_iter()
        .filter(|p| !texts.contains(p.a.trim()) && !texts.contains(p.b.trim()))
        .collect();
    let removed = before - kept.len();
    (kept, removed)
}

fn english() -> Lang {
    Lang::parse("en").unwrap_or_else(|_| unreachable!("'en' is a valid code"))
}

fn lang_key(a: &Lang, b: &Lang) -> String {
    if a == b {
        a.to_string()
    } else {
        format!("{a}-{b}")
    }
}

/// The last component of `dir` (the dataset folder name), for sources.
fn dir_label(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}

/// `{label}/{path relative to dir}`.
fn relative_label(label: &str, dir: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(dir).unwrap_or(path);
    let rel = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/");
    format!("{label}/{rel}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn lang(code: &str) -> Lang {
        Lang::parse(code).unwrap()
    }

    fn write(dir: &Path, rel: &str, body: &str) {
        let path = dir.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, body).unwrap();
    }

    fn tatoeba_dir() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        write(d, "README.md", "not data\n");
        write(d, "tatoeba.deu-eng.deu", "Hallo.\nDanke.\n\nJa.\n");
        write(d, "tatoeba.deu-eng.eng", "Hello.\nThanks.\nNo.\n  \n");
        write(d, "tatoeba.kor-eng.kor", "안녕.\r\n고마워.\r\n");
        write(d, "tatoeba.kor-eng.eng", "Hi.\r\nThank you.\r\n");
        tmp
    }

    #[test]
    fn tatoeba_reads_canonicalizes_and_skips_empty_lines() {
        let tmp = tatoeba_dir();
        let (pairs, summary) = read_tatoeba(tmp.path(), &[], None).unwrap();
        // deu: 4 lines, line 3 empty on the deu side, line 4 blank on the eng
        // side -> 2 pairs, 2 skipped; kor: 2 pairs (CRLF stripped) -> 4 pairs.
        assert_eq!(pairs.len(), 4);
        let label = dir_label(tmp.path());
        assert_eq!(
            pairs[0],
            Pair {
                a: "Hallo.".into(),
                a_lang: lang("de"),
                b: "Hello.".into(),
                b_lang: lang("en"),
                kind: PairKind::Translation,
                source: format!("{label}/tatoeba.deu-eng.deu:1"),
                hard_negatives: Vec::new(),
            }
        );
        assert_eq!(pairs[1].source, format!("{label}/tatoeba.deu-eng.deu:2"));
        assert_eq!(pairs[2].a, "안녕.");
        assert_eq!(pairs[2].a_lang.as_str(), "ko");
        assert_eq!(pairs[3].b, "Thank you.");
        assert_eq!(summary.pairs_by_lang["de-en"], 2);
        assert_eq!(summary.pairs_by_lang["ko-en"], 2);
        assert_eq!(summary.read_by_lang["de"], 4);
        assert_eq!(summary.skipped["empty_line:de-en"], 2);
        assert_eq!(summary.skipped.len(), 1);
        assert_eq!(summary.files.len(), 4);
        assert_eq!(summary.total_pairs(), 4);
    }

    #[test]
    fn tatoeba_per_lang_and_filter() {
        let tmp = tatoeba_dir();
        // first 3 lines of deu: lines 1, 2 kept, line 3 skipped (empty).
        let (pairs, summary) = read_tatoeba(tmp.path(), &[lang("de")], Some(3)).unwrap();
        assert_eq!(pairs.len(), 2);
        assert!(pairs.iter().all(|p| p.a_lang.as_str() == "de"));
        assert_eq!(summary.read_by_lang["de"], 3);
        assert_eq!(summary.skipped["empty_line:de-en"], 1);
        assert!(!summary.pairs_by_lang.contains_key("ko-en"));
        let (pairs, _) = read_tatoeba(tmp.path(), &[], Some(1)).unwrap();
        assert_eq!(pairs.len(), 2); // one per language
        let err = read_tatoeba(tmp.path(), &[lang("fr")], None).unwrap_err();
        assert!(matches!(err, DataError::LangNotFound { ref lang, .. } if lang == "fr"));
        assert!(err.to_string().contains("available: de ko"), "{err}");
    }

    #[test]
    fn tatoeba_line_count_mismatch_names_both_files() {
        let tmp = tatoeba_dir();
        write(tmp.path(), "tatoeba.fra-eng.fra", "Oui.\nNon.\n");
        write(tmp.path(), "tatoeba.fra-eng.eng", "Yes.\n");
        let err = read_tatoeba(tmp.path(), &[], None).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(
            err,
            DataError::LineCountMismatch {
                left_lines: 2,
                right_lines: 1,
                ..
            }
        ));
        assert!(msg.contains("tatoeba.fra-eng.fra") && msg.contains("tatoeba.fra-eng.eng"));
        // filtered out, the broken pair is not read
        assert!(read_tatoeba(tmp.path(), &[lang("de")], None).is_ok());
    }

    #[test]
    fn tatoeba_bad_code_is_an_error_unless_filtered() {
        let tmp = tatoeba_dir();
        write(tmp.path(), "tatoeba.x9z-eng.x9z", "a\n");
        write(tmp.path(), "tatoeba.x9z-eng.eng", "b\n");
        let err = read_tatoeba(tmp.path(), &[], None).unwrap_err();
        assert!(matches!(err, DataError::BadLang { ref code, .. } if code == "x9z"));
        assert!(err.to_string().contains("tatoeba.x9z-eng"), "{err}");
        let (pairs, _) = read_tatoeba(tmp.path(), &[lang("ko")], None).unwrap();
        assert_eq!(pairs.len(), 2);
    }

    #[test]
    fn tatoeba_missing_partner_bad_name_and_duplicate_language() {
        let tmp = tatoeba_dir();
        write(tmp.path(), "tatoeba.fra-eng.fra", "Oui.\n");
        let err = read_tatoeba(tmp.path(), &[], None).unwrap_err();
        assert!(
            matches!(err, DataError::MissingPartner { ref path, .. } if path.ends_with("tatoeba.fra-eng.eng"))
        );

        let tmp = tatoeba_dir();
        write(tmp.path(), "tatoeba.fra-eng.deu", "x\n");
        let err = read_tatoeba(tmp.path(), &[], None).unwrap_err();
        assert!(matches!(err, DataError::BadFileName { .. }), "{err}");

        // ara and arb are both Arabic
        let tmp = tatoeba_dir();
        for code in ["ara", "arb"] {
            write(tmp.path(), &format!("tatoeba.{code}-eng.{code}"), "x\n");
            write(tmp.path(), &format!("tatoeba.{code}-eng.eng"), "y\n");
        }
        let err = read_tatoeba(tmp.path(), &[], None).unwrap_err();
        assert!(matches!(err, DataError::DuplicateLang { ref lang, .. } if lang == "ar"));
        let err = read_tatoeba(tmp.path(), &[lang("ar")], None).unwrap_err();
        assert!(matches!(err, DataError::DuplicateLang { .. }));
        assert!(read_tatoeba(tmp.path(), &[lang("de")], None).is_ok());

        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            read_tatoeba(empty.path(), &[], None).unwrap_err(),
            DataError::NoFiles { .. }
        ));
    }

    #[test]
    fn invalid_utf8_names_the_line() {
        let tmp = tatoeba_dir();
        fs::write(tmp.path().join("tatoeba.fra-eng.fra"), b"ok\nok\n\xff\n").unwrap();
        write(tmp.path(), "tatoeba.fra-eng.eng", "a\nb\nc\n");
        let err = read_tatoeba(tmp.path(), &[lang("fr")], None).unwrap_err();
        assert!(matches!(err, DataError::Utf8 { line: 3, .. }), "{err}");
    }

    fn xor_dir() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        write(d, "SOURCE.txt", "x\n");
        write(
            d,
            "ko-en/ko.txt",
            "서울은 어디인가?\n부산은 어디인가?\n서울은 어디인가?\n",
        );
        write(
            d,
            "ko-en/en.txt",
            "Where is Seoul?\n\nWhat is the location of Seoul?\n",
        );
        write(d, "ja-en/ja.txt", "東京はどこ\n");
        write(d, "ja-en/en.txt", "Where is Tokyo\n");
        tmp
    }

    #[test]
    fn xor_reads_pairs_and_builds_translation_map() {
        let tmp = xor_dir();
        let (pairs, summary) = read_xor_translations(tmp.path(), &[], None).unwrap();
        // ja: 1 pair; ko: 3 lines, line 2 has an empty English side -> 2 pairs.
        assert_eq!(pairs.len(), 3);
        assert_eq!(pairs[0].a_lang.as_str(), "ja");
        let label = dir_label(tmp.path());
        assert_eq!(pairs[2].source, format!("{label}/ko-en/ko.txt:3"));
        assert_eq!(summary.pairs_by_lang["ko-en"], 2);
        assert_eq!(summary.skipped["empty_line:ko-en"], 1);
        let map = translation_map(&pairs);
        assert_eq!(map.len(), 2);
        // the first translation of a repeated question wins
        assert_eq!(map["서울은 어디인가?"], "Where is Seoul?");
        assert_eq!(map["東京はどこ"], "Where is Tokyo");
    }

    #[test]
    fn xor_errors() {
        let tmp = xor_dir();
        write(tmp.path(), "ko-en/en.txt", "only one\n");
        let err = read_xor_translations(tmp.path(), &[], None).unwrap_err();
        assert!(matches!(
            err,
            DataError::LineCountMismatch {
                left_lines: 3,
                right_lines: 1,
                ..
            }
        ));
        let tmp = xor_dir();
        write(tmp.path(), "k1-en/k1.txt", "x\n");
        write(tmp.path(), "k1-en/en.txt", "y\n");
        let err = read_xor_translations(tmp.path(), &[], None).unwrap_err();
        assert!(matches!(err, DataError::BadLang { ref code, .. } if code == "k1"));
        assert!(read_xor_translations(tmp.path(), &[lang("ja")], None).is_ok());
        let tmp = xor_dir();
        fs::remove_file(tmp.path().join("ja-en/ja.txt")).unwrap();
        let err = read_xor_translations(tmp.path(), &[], None).unwrap_err();
        assert!(
            matches!(err, DataError::MissingPartner { ref path, .. } if path.ends_with("ja-en/ja.txt"))
        );
    }

    /// `(id, question, first answer (text, answer_start))`.
    type TestQa<'s> = (&'s str, &'s str, Option<(&'s str, usize)>);

    /// One-paragraph TyDi file.
    fn tydi_json(context: &str, qas: &[TestQa]) -> String {
        let qas: Vec<Value> = qas
            .iter()
            .map(|(id, q, a)| {
                let answers: Vec<Value> = a
                    .iter()
                    .map(|(t, s)| serde_json::json!({"text": t, "answer_start": s}))
                    .collect();
                serde_json::json!({"id": id, "question": q, "answers": answers})
            })
            .collect();
        serde_json::json!({"data": [{"title": "T", "paragraphs": [{"context": context, "qas": qas}]}]})
            .to_string()
    }

    // 서(0)울(1)은(2) (3)한(4)국(5)의(6) (7)수(8)도(9)이(10)다(11).(12) (13)
    // 인(14)구(15)는(16) (17)약(18) (19)천(20)만(21) (22)명(23)…
    // "천만" starts at CHARACTER 20 = BYTE 14 Hangul x 3 + 6 ASCII = 48.
    // Read as a byte offset, 20 would fall inside 수 (bytes 20..23) of the
    // first sentence.
    const KO_CONTEXT: &str = "서울은 한국의 수도이다. 인구는 약 천만 명이다.";

    fn tydi_dir() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        write(
            d,
            "train_partial/korean_tydiqa_train.json",
            &tydi_json(
                KO_CONTEXT,
                &[
                    ("korean-1-0", "서울의 인구는?", Some(("천만", 20))),
                    ("korean-2-0", "서울은 무엇인가?", Some(("수도", 8))),
                    ("korean-3-0", "답이 없는 질문", None),
                ],
            ),
        );
        // "Hello there." = chars 0..12, then two spaces (12, 13), "Bye now."
        // from 14. Offset 13 is white space between sentences; 40 is past
        // the end (22 chars); "now" is at 18, not 14 (text mismatch);
        // "there.  Bye" starts at 6 and crosses into the second sentence.
        write(
            d,
            "train_partial/english_tydiqa_train.json",
            &tydi_json(
                "Hello there.  Bye now.",
                &[
                    ("english-1-0", "Greeting?", Some(("Hello", 0))),
                    ("english-2-0", "Gap?", Some((" Bye", 13))),
                    ("english-3-0", "Far?", Some(("x", 40))),
                    ("english-4-0", "Mismatch?", Some(("now", 14))),
                    ("english-5-0", "Across?", Some(("there.  Bye", 6))),
                ],
            ),
        );
        write(d, "dev/korean_tydiqa_dev.json", "this must never be read");
        tmp
    }

    #[test]
    fn tydi_char_offsets_sentences_and_skips() {
        let tmp = tydi_dir();
        let (pairs, summary) = read_tydi_train(tmp.path(), &[], None, None).unwrap();
        // en: questions 1, 4, 5 kept (2: in no sentence, 3: out of range);
        // ko: questions 1, 2 kept (3: no answer) -> 5 pairs.
        assert_eq!(pairs.len(), 5);
        let ko: Vec<&Pair> = pairs.iter().filter(|p| p.a_lang.as_str() == "ko").collect();
        assert_eq!(ko[0].a, "서울의 인구는?");
        assert_eq!(ko[0].b, "인구는 약 천만 명이다.");
        assert_eq!(ko[0].kind, PairKind::QuestionAnswer);
        assert_eq!(
            ko[0].source,
            "train_partial/korean_tydiqa_train.json:korean-1-0"
        );
        assert_eq!(ko[1].b, "서울은 한국의 수도이다.");
        let en: Vec<&Pair> = pairs.iter().filter(|p| p.a_lang.as_str() == "en").collect();
        assert_eq!(en[0].b, "Hello there.");
        assert_eq!(en[1].a, "Mismatch?");
        assert_eq!(en[1].b, "Bye now."); // built from answer_start 14
                                         // the answer "there.  Bye" spans both sentences: both are the positive
        assert_eq!(en[2].b, "Hello there.  Bye now.");
        assert_eq!(summary.pairs_by_lang["en"], 3);
        assert_eq!(summary.pairs_by_lang["ko"], 2);
        assert_eq!(summary.read_by_lang["en"], 5);
        assert_eq!(summary.skipped["answer_in_no_sentence:en"], 1);
        assert_eq!(summary.skipped["answer_offset_out_of_range:en"], 1);
        assert_eq!(summary.skipped["no_answer:ko"], 1);
        assert_eq!(summary.warnings["answer_text_mismatch:en"], 1);
        assert_eq!(summary.warnings["answer_spans_sentences:en"], 1);
        assert_eq!(summary.warnings.len(), 2);
        assert_eq!(summary.files.len(), 2);
    }

    #[test]
    fn tydi_translation_join_filter_and_per_lang() {
        let tmp = tydi_dir();
        let mut map = HashMap::new();
        map.insert(
            "서울의 인구는?".to_string(),
            "What is the population of Seoul?".to_string(),
        );
        let (pairs, summary) =
            read_tydi_train(tmp.path(), &[lang("ko")], None, Some(&map)).unwrap();
        // 2 monolingual ko pairs + 1 cross-lingual en->ko pair
        assert_eq!(pairs.len(), 3);
        assert_eq!(pairs[1].a, "What is the population of Seoul?");
        assert_eq!(pairs[1].a_lang.as_str(), "en");
        assert_eq!(pairs[1].b_lang.as_str(), "ko");
        assert_eq!(pairs[1].b, "인구는 약 천만 명이다.");
        assert!(pairs[1].source.ends_with("korean-1-0+xor_en"));
        assert_eq!(summary.pairs_by_lang["en-ko"], 1);
        assert_eq!(summary.pairs_by_lang["ko"], 2);
        assert!(!summary.pairs_by_lang.contains_key("en"));

        // first question only
        let (pairs, summary) =
            read_tydi_train(tmp.path(), &[lang("ko")], Some(1), Some(&map)).unwrap();
        assert_eq!(pairs.len(), 2);
        assert_eq!(summary.read_by_lang["ko"], 1);

        let err = read_tydi_train(tmp.path(), &[lang("ar")], None, None).unwrap_err();
        assert!(matches!(err, DataError::LangNotFound { .. }));
    }

    #[test]
    fn tydi_refuses_dev_and_unknown_prefix() {
        let tmp = tydi_dir();
        let err = read_tydi_train(&tmp.path().join("dev"), &[], None, None).unwrap_err();
        assert!(matches!(err, DataError::EvalData { .. }), "{err}");
        write(tmp.path(), "train_partial/english_tydiqa_dev.json", "{}");
        let err = read_tydi_train(tmp.path(), &[], None, None).unwrap_err();
        assert!(matches!(err, DataError::EvalData { .. }), "{err}");

        let tmp = tydi_dir();
        write(tmp.path(), "train_partial/klingon_tydiqa_train.json", "{}");
        let err = read_tydi_train(tmp.path(), &[], None, None).unwrap_err();
        assert!(
            matches!(err, DataError::BadFileName { ref message, .. } if message.contains("'klingon'")),
            "{err}"
        );
    }

    #[test]
    fn tydi_strict_format_errors() {
        let cases: Vec<(String, &str)> = vec![
            (
                tydi_json("Ctx.", &[("korean-1", "Q?", Some(("C", 0))), ("korean-1", "Q2?", None)]),
                "data[0].paragraphs[0].qas[1].id",
            ),
            (
                tydi_json("Ctx.", &[("english-1", "Q?", None)]),
                "data[0].paragraphs[0].qas[0].id",
            ),
            (
                tydi_json("Ctx.", &[("korean-1", "  ", None)]),
                "data[0].paragraphs[0].qas[0].question",
            ),
            (
                tydi_json("", &[("korean-1", "Q?", None)]),
                "data[0].paragraphs[0].context",
            ),
            (
                r#"{"data":[{"paragraphs":[{"context":"C.","qas":[{"id":"korean-1","question":"Q","answers":[{"text":"C","answer_start":-1}]}]}]}]}"#.to_string(),
                "data[0].paragraphs[0].qas[0].answers[0].answer_start",
            ),
            (
                r#"{"data":[{"paragraphs":[{"context":"C.","qas":[{"id":"korean-1","question":"Q"}]}]}]}"#.to_string(),
                "data[0].paragraphs[0].qas[0].answers",
            ),
            (r#"{"data":{}}"#.to_string(), "data"),
        ];
        for (body, json_path) in cases {
            let tmp = tempfile::tempdir().unwrap();
            write(tmp.path(), "korean_tydiqa_train.json", &body);
            let err = read_tydi_train(tmp.path(), &[], None, None).unwrap_err();
            match &err {
                DataError::Format { json_path: p, .. } => assert_eq!(p, json_path, "{err}"),
                other => panic!("expected a format error at {json_path}, got {other}"),
            }
        }
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "korean_tydiqa_train.json", "{\"data\": [");
        let err = read_tydi_train(tmp.path(), &[], None, None).unwrap_err();
        assert!(matches!(err, DataError::Json { line: 1, .. }), "{err}");
    }

    #[test]
    fn drop_overlapping_removes_either_side() {
        let p = |a: &str, b: &str| Pair {
            a: a.into(),
            a_lang: lang("ko"),
            b: b.into(),
            b_lang: lang("en"),
            kind: PairKind::Translation,
            source: String::new(),
            hard_negatives: Vec::new(),
        };
        let pairs = vec![p("가", "A"), p("나", "B"), p("다", "C")];
        let eval: HashSet<String> = ["가".to_string(), "C".to_string()].into();
        let (kept, removed) = drop_overlapping(pairs, &eval);
        assert_eq!(removed, 2);
        assert_eq!(kept, vec![p("나", "B")]);
    }

    #[test]
    fn summary_merge_adds_counts() {
        let tmp = tatoeba_dir();
        let (_, mut a) = read_tatoeba(tmp.path(), &[lang("de")], None).unwrap();
        let (_, b) = read_tatoeba(tmp.path(), &[], None).unwrap();
        a.merge(b);
        // de: 2 + 2 pairs, 2 + 2 skipped; ko: 0 + 2
        assert_eq!(a.pairs_by_lang["de-en"], 4);
        assert_eq!(a.pairs_by_lang["ko-en"], 2);
        assert_eq!(a.skipped["empty_line:de-en"], 4);
        assert_eq!(a.files.len(), 6);
    }
}
