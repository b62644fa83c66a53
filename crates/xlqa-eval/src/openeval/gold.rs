//! Gold question sets for open-retrieval evaluation.
//!
//! Formats (all loaders are strict: a wrong shape, a missing or empty field,
//! a wrong type, an unknown language code or a duplicate question is an
//! error naming the file, the line and the field):
//!
//! - **xor**: XOR-TyDi / MIA JSONL `{"id","question","answers":[str…],"lang"}`
//!   (other fields such as `split` are ignored). The answers' language is
//!   `answers_lang` when given (XOR-Retrieve EnglishSpan: `en`), else the
//!   question's. A `lang` with surrounding spaces (2,574 rows of the XOR-TyDi
//!   train file have `" ar"`) is trimmed and counted in a note.
//! - **mkqa**: MKQA JSONL (optionally gzipped) `{"example_id","queries":{l:q},
//!   "answers":{l:[{"type","text","aliases"}]}}` → one question per query
//!   language, with the answers (text + aliases) of every language as parallel
//!   answers. `unanswerable`, `long_answer` and `binary` answers are dropped
//!   (no string to find in a passage). MKQA's `zh_cn` is `zh`, `zh_tw` and
//!   `zh_hk` are `zh-Hant`; they are reported under their MKQA names.
//! - **xquad**: a folder of `xquad.<lang>.json` (SQuAD v1.1): one question per
//!   (id, language); the answers of the same id in the other languages are
//!   its parallel answers.
//! - **questions**: xlqa question JSONL `{"id","question","lang"}` without
//!   answers (for qrels-only evaluation); `lang` is required here.
//!
//! TREC topic ids ([`GoldItem::qid`]): the question id when it is unique in
//! the set, else `<lang>:<id>` (XQuAD and MKQA ids are shared by all
//! languages); whitespace in ids becomes `_`, as `xlqa ask --run` writes.

use super::OpenEvalError;
use crate::datasets::read_xquad_dir;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::path::Path;
use std::str::FromStr;
use xlqa_core::Lang;

/// One question with its gold answers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GoldItem {
    /// The question id as in the file.
    pub id: String,
    /// The TREC topic id (see the module doc).
    pub qid: String,
    /// The question's language.
    pub lang: Lang,
    /// The language name results are grouped under (the code, or MKQA's
    /// `zh_cn` / `zh_hk` / `zh_tw`).
    pub label: String,
    pub question: String,
    /// Gold answer strings (with aliases), in `answers_lang`.
    pub answers: Vec<String>,
    pub answers_lang: Lang,
    /// Answers by language, `answers_lang` included.
    pub parallel: BTreeMap<Lang, Vec<String>>,
}

impl GoldItem {
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

/// The gold file formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GoldFormat {
    Auto,
    Xor,
    Mkqa,
    Xquad,
    Questions,
}

impl FromStr for GoldFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(GoldFormat::Auto),
            "xor" | "mia" => Ok(GoldFormat::Xor),
            "mkqa" => Ok(GoldFormat::Mkqa),
            "xquad" => Ok(GoldFormat::Xquad),
            "questions" => Ok(GoldFormat::Questions),
            other => Err(format!(
                "unknown gold format \"{other}\": expected auto, xor, mkqa, xquad or questions"
            )),
        }
    }
}

impl GoldFormat {
    pub fn as_str(&self) -> &'static str {
        match self {
            GoldFormat::Auto => "auto",
            GoldFormat::Xor => "xor",
            GoldFormat::Mkqa => "mkqa",
            GoldFormat::Xquad => "xquad",
            GoldFormat::Questions => "questions",
        }
    }
}

#[derive(Clone, Debug)]
pub struct GoldOptions {
    pub format: GoldFormat,
    /// Language of the answers of an `xor` file (default: the question's).
    pub answers_lang: Option<Lang>,
}

/// A loaded gold set.
#[derive(Clone, Debug, Serialize)]
pub struct GoldSet {
    /// The format actually read (never `Auto`).
    pub format: GoldFormat,
    pub items: Vec<GoldItem>,
    /// Things the user should know (trimmed language codes, dropped answers).
    pub notes: Vec<String>,
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

/// Reads a gold set (see the module doc for the formats).
pub fn read_gold(path: &Path, opts: &GoldOptions) -> Result<GoldSet, OpenEvalError> {
    let format = match opts.format {
        GoldFormat::Auto => detect_format(path)?,
        f => f,
    };
    if opts.answers_lang.is_some() && format != GoldFormat::Xor {
        return Err(OpenEvalError::Mismatch(format!(
            "--answers-lang applies to xor/MIA files only; {} is read as {} (its answers carry their own languages)",
            path.display(),
            format.as_str()
        )));
    }
    let mut notes = Vec::new();
    let mut items = match format {
        GoldFormat::Xor => read_xor(path, opts.answers_lang.as_ref(), &mut notes)?,
        GoldFormat::Mkqa => read_mkqa(path, &mut notes)?,
        GoldFormat::Xquad => read_xquad(path)?,
        GoldFormat::Questions => read_plain_questions(path)?,
        GoldFormat::Auto => unreachable!("resolved above"),
    };
    assign_qids(path, &mut items)?;
    Ok(GoldSet {
        format,
        items,
        notes,
    })
}

fn detect_format(path: &Path) -> Result<GoldFormat, OpenEvalError> {
    if path.is_dir() {
        return Ok(GoldFormat::Xquad);
    }
    let lines = read_lines(path)?;
    for (n, line) in &lines {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).map_err(|e| {
            OpenEvalError::input(
                path,
                *n,
                format!("malformed JSON ({e}); cannot detect the gold format, pass --gold-format"),
            )
        })?;
        let Some(obj) = v.as_object() else {
            return Err(OpenEvalError::input(
                path,
                *n,
                "expected a JSON object per line",
            ));
        };
        return Ok(if obj.contains_key("queries") {
            GoldFormat::Mkqa
        } else if obj.contains_key("answers") {
            GoldFormat::Xor
        } else {
            GoldFormat::Questions
        });
    }
    Err(OpenEvalError::input(path, 0, "the file is empty"))
}

/// The lines of a (possibly gzipped) UTF-8 text file, numbered from 1.
pub(crate) fn read_lines(path: &Path) -> Result<Vec<(usize, String)>, OpenEvalError> {
    let bytes = std::fs::read(path)
        .map_err(|e| OpenEvalError::input(path, 0, format!("cannot read: {e}")))?;
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| OpenEvalError::input(path, 0, format!("cannot decompress (gzip): {e}")))?;
        out
    } else {
        bytes
    };
    let mut out = Vec::new();
    for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let s = std::str::from_utf8(raw).map_err(|e| {
            OpenEvalError::input(
                path,
                i + 1,
                format!("invalid UTF-8 at byte {} of the line", e.valid_up_to()),
            )
        })?;
        let s = if i == 0 {
            s.strip_prefix('\u{feff}').unwrap_or(s)
        } else {
            s
        };
        out.push((i + 1, s.to_string()));
    }
    Ok(out)
}

fn parse_object(line: &str) -> Result<Map<String, Value>, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("malformed JSON: {e}"))?;
    match v {
        Value::Object(o) => Ok(o),
        other => Err(format!(
            "expected a JSON object, found {}",
            xlqa_core::json_kind(&other)
        )),
    }
}

/// A required non-empty string field (integers are accepted for ids).
fn req_string(obj: &Map<String, Value>, key: &str, allow_int: bool) -> Result<String, String> {
    match obj.get(key) {
        None => Err(format!("missing field \"{key}\"")),
        Some(Value::String(s)) if s.trim().is_empty() => Err(format!("field \"{key}\" is empty")),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) if allow_int && (n.is_i64() || n.is_u64()) => Ok(n.to_string()),
        Some(other) => Err(format!(
            "field \"{key}\" must be a string, found {}",
            xlqa_core::json_kind(other)
        )),
    }
}

fn parse_lang_field(raw: &str, field: &str) -> Result<Lang, String> {
    Lang::parse(raw).map_err(|e| format!("field \"{field}\": {e}"))
}

/// Keeps answers that are not empty, once each, in order.
fn push_answer(out: &mut Vec<String>, a: &str) {
    let a = a.trim();
    if !a.is_empty() && !out.iter().any(|x| x == a) {
        out.push(a.to_string());
    }
}

fn read_xor(
    path: &Path,
    answers_lang: Option<&Lang>,
    notes: &mut Vec<String>,
) -> Result<Vec<GoldItem>, OpenEvalError> {
    let mut items = Vec::new();
    let mut seen: HashMap<(String, Lang), usize> = HashMap::new();
    let mut trimmed: BTreeMap<String, usize> = BTreeMap::new();
    for (n, line) in read_lines(path)? {
        if line.trim().is_empty() {
            continue;
        }
        let err = |m: String| OpenEvalError::input(path, n, m);
        let obj = parse_object(&line).map_err(err)?;
        let id = req_string(&obj, "id", true).map_err(err)?;
        let question = req_string(&obj, "question", false).map_err(err)?;
        let raw_lang = req_string(&obj, "lang", false).map_err(err)?;
        let lang = parse_lang_field(&raw_lang, "lang").map_err(err)?;
        if raw_lang.trim() != raw_lang {
            *trimmed.entry(format!("{raw_lang:?}")).or_default() += 1;
        }
        let arr = match obj.get("answers") {
            None => return Err(err("missing field \"answers\" (a file without answers is read with --gold-format questions)".into())),
            Some(Value::Array(a)) => a,
            Some(other) => {
                return Err(err(format!(
                    "field \"answers\" must be an array of strings, found {}",
                    xlqa_core::json_kind(other)
                )))
            }
        };
        if arr.is_empty() {
            return Err(err("field \"answers\" is an empty array".into()));
        }
        let mut answers = Vec::new();
        for (i, a) in arr.iter().enumerate() {
            match a {
                Value::String(s) if !s.trim().is_empty() => push_answer(&mut answers, s),
                Value::String(_) => return Err(err(format!("answers[{i}] is empty"))),
                other => {
                    return Err(err(format!(
                        "answers[{i}] must be a string, found {}",
                        xlqa_core::json_kind(other)
                    )))
                }
            }
        }
        if let Some(first) = seen.insert((id.clone(), lang.clone()), n) {
            return Err(err(format!(
                "duplicate question id \"{id}\" in language {lang} (first on line {first})"
            )));
        }
        let alang = answers_lang.cloned().unwrap_or_else(|| lang.clone());
        let mut parallel = BTreeMap::new();
        parallel.insert(alang.clone(), answers.clone());
        items.push(GoldItem {
            id,
            qid: String::new(),
            label: lang.to_string(),
            lang,
            question,
            answers,
            answers_lang: alang,
            parallel,
        });
    }
    if items.is_empty() {
        return Err(OpenEvalError::input(path, 0, "no questions in the file"));
    }
    for (raw, c) in trimmed {
        notes.push(format!(
            "{}: {c} rows have the language code {raw} with surrounding spaces; trimmed",
            path.display()
        ));
    }
    Ok(items)
}

/// MKQA language keys → xlqa languages.
fn mkqa_lang(key: &str) -> Result<Lang, String> {
    match key {
        "zh_cn" => Ok(Lang::parse("zh").map_err(|e| e.to_string())?),
        "zh_tw" | "zh_hk" => Ok(Lang::parse("zh-Hant").map_err(|e| e.to_string())?),
        other => Lang::parse(other).map_err(|e| format!("language key \"{other}\": {e}")),
    }
}

const MKQA_NO_STRING: &[&str] = &["unanswerable", "long_answer", "binary"];

fn read_mkqa(path: &Path, notes: &mut Vec<String>) -> Result<Vec<GoldItem>, OpenEvalError> {
    let mut items = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut dropped: BTreeMap<String, usize> = BTreeMap::new();
    for (n, line) in read_lines(path)? {
        if line.trim().is_empty() {
            continue;
        }
        let err = |m: String| OpenEvalError::input(path, n, m);
        let obj = parse_object(&line).map_err(err)?;
        let id = req_string(&obj, "example_id", true).map_err(err)?;
        if let Some(first) = seen.insert(id.clone(), n) {
            return Err(err(format!(
                "duplicate example_id {id} (first on line {first})"
            )));
        }
        let queries = match obj.get("queries") {
            Some(Value::Object(q)) if !q.is_empty() => q,
            Some(Value::Object(_)) => return Err(err("field \"queries\" is empty".into())),
            Some(other) => {
                return Err(err(format!(
                    "field \"queries\" must be an object {{lang: question}}, found {}",
                    xlqa_core::json_kind(other)
                )))
            }
            None => return Err(err("missing field \"queries\"".into())),
        };
        let answers = match obj.get("answers") {
            Some(Value::Object(a)) => a,
            Some(other) => {
                return Err(err(format!(
                    "field \"answers\" must be an object {{lang: [answer…]}}, found {}",
                    xlqa_core::json_kind(other)
                )))
            }
            None => return Err(err("missing field \"answers\"".into())),
        };
        // answers of every language
        let mut by_key: BTreeMap<String, (Lang, Vec<String>)> = BTreeMap::new();
        for (key, list) in answers {
            let lang = mkqa_lang(key).map_err(|m| err(format!("answers: {m}")))?;
            let Value::Array(list) = list else {
                return Err(err(format!(
                    "answers.{key} must be an array, found {}",
                    xlqa_core::json_kind(list)
                )));
            };
            let mut strings = Vec::new();
            for (i, a) in list.iter().enumerate() {
                let at = format!("answers.{key}[{i}]");
                let Value::Object(a) = a else {
                    return Err(err(format!(
                        "{at} must be an object, found {}",
                        xlqa_core::json_kind(a)
                    )));
                };
                let ty = req_string(a, "type", false).map_err(|m| err(format!("{at}: {m}")))?;
                if MKQA_NO_STRING.contains(&ty.as_str()) {
                    *dropped.entry(ty).or_default() += 1;
                    continue;
                }
                let text = req_string(a, "text", false).map_err(|m| err(format!("{at}: {m}")))?;
                push_answer(&mut strings, &text);
                match a.get("aliases") {
                    None | Some(Value::Null) => {}
                    Some(Value::Array(al)) => {
                        for (j, s) in al.iter().enumerate() {
                            match s {
                                Value::String(s) => push_answer(&mut strings, s),
                                other => {
                                    return Err(err(format!(
                                        "{at}.aliases[{j}] must be a string, found {}",
                                        xlqa_core::json_kind(other)
                                    )))
                                }
                            }
                        }
                    }
                    Some(other) => {
                        return Err(err(format!(
                            "{at}.aliases must be an array, found {}",
                            xlqa_core::json_kind(other)
                        )))
                    }
                }
            }
            by_key.insert(key.clone(), (lang, strings));
        }
        let mut parallel: BTreeMap<Lang, Vec<String>> = BTreeMap::new();
        for (lang, strings) in by_key.values() {
            let e = parallel.entry(lang.clone()).or_default();
            for s in strings {
                push_answer(e, s);
            }
        }
        parallel.retain(|_, v| !v.is_empty());
        for (key, q) in queries {
            let lang = mkqa_lang(key).map_err(|m| err(format!("queries: {m}")))?;
            let question = match q {
                Value::String(s) if !s.trim().is_empty() => s.clone(),
                Value::String(_) => return Err(err(format!("queries.{key} is empty"))),
                other => {
                    return Err(err(format!(
                        "queries.{key} must be a string, found {}",
                        xlqa_core::json_kind(other)
                    )))
                }
            };
            let Some((_, own)) = by_key.get(key) else {
                return Err(err(format!(
                    "queries has language \"{key}\" but answers has none for it"
                )));
            };
            items.push(GoldItem {
                id: id.clone(),
                qid: String::new(),
                lang: lang.clone(),
                label: key.clone(),
                question,
                answers: own.clone(),
                answers_lang: lang,
                parallel: parallel.clone(),
            });
        }
    }
    if items.is_empty() {
        return Err(OpenEvalError::input(path, 0, "no examples in the file"));
    }
    if !dropped.is_empty() {
        let parts: Vec<String> = dropped.iter().map(|(t, c)| format!("{c} {t}")).collect();
        notes.push(format!(
            "{}: answers without a string to search for were dropped: {}",
            path.display(),
            parts.join(", ")
        ));
    }
    Ok(items)
}

fn read_xquad(dir: &Path) -> Result<Vec<GoldItem>, OpenEvalError> {
    let examples = read_xquad_dir(dir)?;
    let mut by_id: HashMap<&str, BTreeMap<Lang, Vec<String>>> = HashMap::new();
    let mut seen = HashSet::new();
    for e in &examples {
        if !seen.insert((e.id.as_str(), e.lang.clone())) {
            return Err(OpenEvalError::Mismatch(format!(
                "{}: question id \"{}\" appears twice in xquad.{}.json",
                dir.display(),
                e.id,
                e.lang
            )));
        }
        let entry = by_id
            .entry(e.id.as_str())
            .or_default()
            .entry(e.lang.clone())
            .or_default();
        for a in &e.answers {
            push_answer(entry, a);
        }
    }
    Ok(examples
        .iter()
        .map(|e| {
            let parallel = by_id[e.id.as_str()].clone();
            GoldItem {
                id: e.id.clone(),
                qid: String::new(),
                lang: e.lang.clone(),
                label: e.lang.to_string(),
                question: e.question.clone(),
                answers: parallel.get(&e.lang).cloned().unwrap_or_default(),
                answers_lang: e.lang.clone(),
                parallel,
            }
        })
        .collect())
}

fn read_plain_questions(path: &Path) -> Result<Vec<GoldItem>, OpenEvalError> {
    let mut items = Vec::new();
    let mut seen: HashMap<(String, Lang), usize> = HashMap::new();
    for (n, line) in read_lines(path)? {
        if line.trim().is_empty() {
            continue;
        }
        let err = |m: String| OpenEvalError::input(path, n, m);
        let obj = parse_object(&line).map_err(err)?;
        let id = req_string(&obj, "id", true).map_err(err)?;
        let key = ["question", "text", "query"]
            .into_iter()
            .find(|k| obj.contains_key(*k))
            .ok_or_else(|| err("missing field \"question\" (or \"text\")".into()))?;
        let question = req_string(&obj, key, false).map_err(err)?;
        let raw = req_string(&obj, "lang", false).map_err(|m| {
            err(format!(
                "{m}: evaluation groups questions by language, so every question needs a \"lang\""
            ))
        })?;
        let lang = parse_lang_field(&raw, "lang").map_err(err)?;
        if let Some(first) = seen.insert((id.clone(), lang.clone()), n) {
            return Err(err(format!(
                "duplicate question id \"{id}\" in language {lang} (first on line {first})"
            )));
        }
        items.push(GoldItem {
            id,
            qid: String::new(),
            label: lang.to_string(),
            answers_lang: lang.clone(),
            lang,
            question,
            answers: Vec::new(),
            parallel: BTreeMap::new(),
        });
    }
    if items.is_empty() {
        return Err(OpenEvalError::input(path, 0, "no questions in the file"));
    }
    Ok(items)
}

fn clean_id(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join("_")
}

fn assign_qids(path: &Path, items: &mut [GoldItem]) -> Result<(), OpenEvalError> {
    let mut count: HashMap<String, usize> = HashMap::new();
    for it in items.iter() {
        *count.entry(it.id.clone()).or_default() += 1;
    }
    let mut seen: HashMap<String, String> = HashMap::new();
    for it in items.iter_mut() {
        it.qid = if count[&it.id] == 1 {
            clean_id(&it.id)
        } else {
            format!("{}:{}", it.label, clean_id(&it.id))
        };
        if let Some(other) = seen.insert(it.qid.clone(), it.id.clone()) {
            return Err(OpenEvalError::Mismatch(format!(
                "{}: question ids \"{other}\" and \"{}\" both give the TREC topic id \"{}\"",
                path.display(),
                it.id,
                it.qid
            )));
        }
    }
    Ok(())
}
