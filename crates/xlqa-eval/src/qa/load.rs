//! Strict readers for gold answers and predictions.
//!
//! Gold forms ([`GoldFormat`]):
//! - **squad** / **xquad**: SQuAD v1.1 JSON. A file holds one language:
//!   `--lang`, else the file name (`xquad.<lang>.json`, or MLQA's
//!   `…-context-<lang>-question-<lang>.json`, whose *context* language is the
//!   answer language). A folder is read as XQuAD: every `xquad.<lang>.json`.
//! - **tydi**: TyDi QA GoldP JSON (language from each id's prefix); a file or
//!   the dev folder.
//! - **mkqa**: MKQA JSONL (`.jsonl` or `.jsonl.gz`). Each record becomes one
//!   question per language of `queries`, id = `example_id`; gold = `text` and
//!   `aliases` of every answer of that language, duplicates removed. An answer
//!   whose `text` is null (types `unanswerable` and `long_answer`) is the
//!   empty string, i.e. "no answer", as in MKQA's official script: an empty
//!   prediction then scores EM = F1 = 1 and any other prediction 0.
//!   Language keys are MKQA's: `zh_cn`, `zh_hk`, `zh_tw` stay distinct labels
//!   (Chinese rules); the others are ISO codes.
//! - **xor**: XOR-TyDi / MIA JSONL `{"id","question","answers":[…],"lang"}`.
//!   A language code with surrounding spaces (the `" ar"` of the XOR-TyDi
//!   train file) is accepted trimmed, counted and reported as a warning.
//!
//! Predictions ([`read_predictions`]):
//! - JSON object `{"id": "answer", …}` (SQuAD / XQuAD / XTREME), keyed by id
//!   alone: only for gold sets whose ids are unique across languages (or
//!   with `--lang`);
//! - JSON object `{"lang": {"id": "answer"}}`;
//! - JSONL, one object per line: `id` (or MKQA's `example_id`, string or
//!   integer), `prediction` or `answer` (string, or null = no answer), an
//!   optional `lang`, and MKQA's optional `binary_answer` ("yes"/"no", which
//!   then is the prediction, as in MKQA's script). Other fields are ignored.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use xlqa_core::Lang;

use super::QaError;
use crate::datasets;

/// The form of a gold file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GoldFormat {
    /// Detect from the file name and content.
    Auto,
    /// One SQuAD v1.1 JSON file of one language.
    Squad,
    /// XQuAD: a folder of `xquad.<lang>.json` or one such file.
    Xquad,
    /// TyDi QA GoldP JSON (file or dev folder).
    Tydi,
    /// MKQA JSONL (optionally gzip-compressed).
    Mkqa,
    /// XOR-TyDi / MIA JSONL.
    Xor,
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
        }
    }
}

/// One question to score.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoldQuestion {
    pub id: String,
    /// The language label used for grouping and for matching predictions
    /// (a canonical code, or MKQA's `zh_cn` / `zh_hk` / `zh_tw`).
    pub lang: String,
    /// The language whose normalization rules apply to the answers.
    pub answer_lang: Lang,
    /// Gold answers (aliases); an empty string means "no answer".
    pub answers: Vec<String>,
}

impl GoldQuestion {
    /// True when every gold answer is empty (an unanswerable question).
    pub fn no_answer(&self) -> bool {
        self.answers.iter().all(|a| a.is_empty())
    }
}

/// A loaded gold set.
#[derive(Clone, Debug)]
pub struct GoldSet {
    pub path: PathBuf,
    /// The format actually read (never `Auto`).
    pub format: GoldFormat,
    pub questions: Vec<GoldQuestion>,
    /// Things worth telling the user (e.g. fixed language codes).
    pub warnings: Vec<String>,
    /// Records whose language code had surrounding whitespace.
    pub lang_codes_trimmed: usize,
}

/// What to read.
#[derive(Clone, Debug)]
pub struct GoldOptions {
    pub format: GoldFormat,
    /// For one SQuAD file: its language. For any other gold set: evaluate
    /// only this language label.
    pub lang: Option<String>,
}

/// A language label and the language of its rules: MKQA's `zh_cn` →
/// (`zh_cn`, `zh-Hans`), `zh_tw`/`zh_hk` → `zh-Hant`; anything else must be
/// a valid code and is canonicalized (`eng` → `en`). Codes with surrounding
/// whitespace are rejected here (callers decide whether to trim).
pub fn parse_lang_label(code: &str) -> Result<(String, Lang), String> {
    if code.trim() != code {
        return Err(format!("language code {code:?} has surrounding whitespace"));
    }
    let mkqa = match code {
        "zh_cn" => Some("zh-Hans"),
        "zh_tw" | "zh_hk" => Some("zh-Hant"),
        _ => None,
    };
    if let Some(l) = mkqa {
        let lang = Lang::parse(l).map_err(|e| e.to_string())?;
        return Ok((code.to_string(), lang));
    }
    let lang = Lang::parse(code).map_err(|e| e.to_string())?;
    Ok((lang.to_string(), lang))
}

/// Reads a gold set (see the module documentation).
pub fn read_gold(path: &Path, opts: &GoldOptions) -> Result<GoldSet, QaError> {
    let format = match opts.format {
        GoldFormat::Auto => detect_format(path)?,
        f => f,
    };
    let filter = match &opts.lang {
        Some(l) => Some(parse_lang_label(l).map_err(|e| QaError::Invalid(format!("--lang: {e}")))?),
        None => None,
    };
    let mut set = GoldSet {
        path: path.to_path_buf(),
        format,
        questions: Vec::new(),
        warnings: Vec::new(),
        lang_codes_trimmed: 0,
    };
    let mut filter_applies = true;
    match format {
        GoldFormat::Auto => unreachable!("resolved above"),
        GoldFormat::Squad | GoldFormat::Xquad => {
            let examples = if path.is_dir() {
                datasets::read_xquad_dir(path)?
            } else {
                let lang = match &filter {
                    Some((_, l)) => l.clone(),
                    None => lang_from_file_name(path).ok_or_else(|| {
                        QaError::Invalid(format!(
                            "cannot tell the language of '{}' from its name (expected xquad.<lang>.json): pass --lang",
                            path.display()
                        ))
                    })?,
                };
                filter_applies = false;
                datasets::read_squad(path, &lang)?
            };
            set.questions = examples
                .into_iter()
                .map(|e| GoldQuestion {
                    id: e.id,
                    lang: e.lang.to_string(),
                    answer_lang: e.lang,
                    answers: e.answers,
                })
                .collect();
        }
        GoldFormat::Tydi => {
            let examples = if path.is_dir() {
                datasets::read_tydi_goldp_dev_dir(path)?
            } else {
                datasets::read_tydi_goldp(path)?
            };
            set.questions = examples
                .into_iter()
                .map(|e| GoldQuestion {
                    id: e.id,
                    lang: e.lang.to_string(),
                    answer_lang: e.lang,
                    answers: e.answers,
                })
                .collect();
        }
        GoldFormat::Mkqa => read_mkqa(path, &mut set)?,
        GoldFormat::Xor => read_xor(path, &mut set)?,
    }
    check_unique(&set)?;
    if let (Some((label, _)), true) = (&filter, filter_applies) {
        let present: Vec<String> = langs_of(&set.questions);
        set.questions.retain(|q| &q.lang == label);
        if set.questions.is_empty() {
            return Err(QaError::Invalid(format!(
                "'{}' has no question in language {label} (languages: {})",
                path.display(),
                present.join(", ")
            )));
        }
    }
    if set.questions.is_empty() {
        return Err(QaError::Invalid(format!(
            "'{}' holds no question",
            path.display()
        )));
    }
    Ok(set)
}

/// The distinct language labels, sorted.
pub fn langs_of(questions: &[GoldQuestion]) -> Vec<String> {
    let mut v: Vec<String> = questions
        .iter()
        .map(|q| q.lang.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    v.sort();
    v
}

fn check_unique(set: &GoldSet) -> Result<(), QaError> {
    let mut seen = HashSet::new();
    for q in &set.questions {
        if !seen.insert((q.id.as_str(), q.lang.as_str())) {
            return Err(QaError::Invalid(format!(
                "'{}': question id {:?} occurs twice in language {}",
                set.path.display(),
                q.id,
                q.lang
            )));
        }
    }
    Ok(())
}

fn lang_from_file_name(path: &Path) -> Option<Lang> {
    let name = path.file_name()?.to_str()?;
    if let Some(code) = name
        .strip_prefix("xquad.")
        .and_then(|r| r.strip_suffix(".json"))
    {
        return Lang::parse(code).ok();
    }
    // MLQA: dev-context-de-question-en.json → the context (answer) language
    let i = name.find("context-")?;
    let code = name[i + "context-".len()..].split('-').next()?;
    Lang::parse(code).ok()
}

fn detect_format(path: &Path) -> Result<GoldFormat, QaError> {
    let io = |source| QaError::Io {
        path: path.to_path_buf(),
        source,
    };
    if path.is_dir() {
        let mut names = Vec::new();
        for e in std::fs::read_dir(path).map_err(io)? {
            let e = e.map_err(io)?;
            names.push(e.file_name().to_string_lossy().into_owned());
        }
        if names
            .iter()
            .any(|n| n.starts_with("xquad.") && n.ends_with(".json"))
        {
            return Ok(GoldFormat::Xquad);
        }
        if names.iter().any(|n| n == "dev")
            || names
                .iter()
                .any(|n| n.contains("tydi") && n.ends_with(".json"))
        {
            return Ok(GoldFormat::Tydi);
        }
        return Err(QaError::Invalid(format!(
            "cannot tell the gold format of folder '{}' (no xquad.<lang>.json, no TyDi GoldP files): pass --gold-format",
            path.display()
        )));
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.ends_with(".gz") {
        return Ok(GoldFormat::Mkqa);
    }
    if name.ends_with(".jsonl") {
        let mut lines = open_lines(path)?;
        let first = loop {
            match lines.next() {
                Some(Ok(l)) if l.trim().is_empty() => continue,
                Some(Ok(l)) => break l,
                Some(Err(source)) => return Err(io(source)),
                None => {
                    return Err(QaError::Invalid(format!("'{}' is empty", path.display())));
                }
            }
        };
        let v: Value = serde_json::from_str(&first).map_err(|source| QaError::Json {
            path: path.to_path_buf(),
            line: source.line(),
            column: source.column(),
            source,
        })?;
        let has = |k: &str| v.get(k).is_some();
        if has("example_id") && has("queries") {
            return Ok(GoldFormat::Mkqa);
        }
        if has("id") && has("answers") && has("lang") {
            return Ok(GoldFormat::Xor);
        }
        return Err(QaError::Invalid(format!(
            "cannot tell the gold format of '{}': its first record is neither MKQA (example_id, queries, answers) nor XOR/MIA (id, question, answers, lang); pass --gold-format",
            path.display()
        )));
    }
    if name.ends_with(".json") {
        let bytes = std::fs::read(path).map_err(io)?;
        let v: Value = serde_json::from_slice(&bytes).map_err(|source| QaError::Json {
            path: path.to_path_buf(),
            line: source.line(),
            column: source.column(),
            source,
        })?;
        let first_id = v
            .get("data")
            .and_then(|d| d.get(0))
            .and_then(|a| a.get("paragraphs"))
            .and_then(|p| p.get(0))
            .and_then(|p| p.get("qas"))
            .and_then(|q| q.get(0))
            .and_then(|q| q.get("id"))
            .and_then(Value::as_str);
        let Some(id) = first_id else {
            return Err(QaError::Invalid(format!(
                "cannot tell the gold format of '{}': no data[0].paragraphs[0].qas[0].id (not SQuAD-like JSON); pass --gold-format",
                path.display()
            )));
        };
        let tydi_prefix = [
            "arabic-",
            "bengali-",
            "english-",
            "finnish-",
            "indonesian-",
            "japanese-",
            "korean-",
            "russian-",
            "swahili-",
            "telugu-",
            "thai-",
        ];
        if tydi_prefix.iter().any(|p| id.starts_with(p)) {
            return Ok(GoldFormat::Tydi);
        }
        return Ok(if name.starts_with("xquad.") {
            GoldFormat::Xquad
        } else {
            GoldFormat::Squad
        });
    }
    Err(QaError::Invalid(format!(
        "cannot tell the gold format of '{}' from its name (.json, .jsonl, .jsonl.gz or a folder): pass --gold-format",
        path.display()
    )))
}

type Lines = Box<dyn Iterator<Item = std::io::Result<String>>>;

fn open_lines(path: &Path) -> Result<Lines, QaError> {
    let file = std::fs::File::open(path).map_err(|source| QaError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    Ok(Box::new(BufReader::new(reader).lines()))
}

/// Iterates over the non-blank lines of a JSONL file as JSON objects, with
/// their 1-based line numbers.
fn for_each_object(
    path: &Path,
    mut f: impl FnMut(usize, &Map<String, Value>) -> Result<(), QaError>,
) -> Result<(), QaError> {
    for (i, line) in open_lines(path)?.enumerate() {
        let n = i + 1;
        let line = line.map_err(|source| QaError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line).map_err(|e| QaError::Format {
            path: path.to_path_buf(),
            at: format!("line {n}"),
            message: format!("not valid JSON: {e}"),
        })?;
        let obj = v.as_object().ok_or_else(|| QaError::Format {
            path: path.to_path_buf(),
            at: format!("line {n}"),
            message: "expected a JSON object".into(),
        })?;
        f(n, obj)?;
    }
    Ok(())
}

/// The value of exactly one of the alternative keys `a` and `b`, with the key found.
fn one_of<'a>(
    path: &Path,
    line: usize,
    obj: &'a Map<String, Value>,
    a: &'static str,
    b: &'static str,
) -> Result<(&'static str, &'a Value), QaError> {
    match (obj.get(a), obj.get(b)) {
        (Some(v), None) => Ok((a, v)),
        (None, Some(v)) => Ok((b, v)),
        (Some(_), Some(_)) => Err(ferr(
            path,
            line,
            a,
            format!("give either {a} or {b}, not both"),
        )),
        (None, None) => Err(ferr(path, line, a, "missing field")),
    }
}

fn ferr(path: &Path, line: usize, field: &str, message: impl Into<String>) -> QaError {
    QaError::Format {
        path: path.to_path_buf(),
        at: format!("line {line}, field {field:?}"),
        message: message.into(),
    }
}

fn get<'a>(
    path: &Path,
    line: usize,
    obj: &'a Map<String, Value>,
    key: &str,
) -> Result<&'a Value, QaError> {
    obj.get(key)
        .ok_or_else(|| ferr(path, line, key, "missing field"))
}

fn nonempty_str<'a>(
    path: &Path,
    line: usize,
    obj: &'a Map<String, Value>,
    key: &str,
) -> Result<&'a str, QaError> {
    match get(path, line, obj, key)? {
        Value::String(s) if !s.trim().is_empty() => Ok(s),
        Value::String(_) => Err(ferr(path, line, key, "empty string")),
        _ => Err(ferr(path, line, key, "expected a string")),
    }
}

/// An id given as a string or an integer (MKQA's `example_id`).
fn id_value(path: &Path, line: usize, key: &str, v: &Value) -> Result<String, QaError> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
        Value::String(_) => Err(ferr(path, line, key, "empty string")),
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        _ => Err(ferr(path, line, key, "expected a string or an integer")),
    }
}

fn read_mkqa(path: &Path, set: &mut GoldSet) -> Result<(), QaError> {
    let mut out = Vec::new();
    for_each_object(path, |n, obj| {
        let id = id_value(path, n, "example_id", get(path, n, obj, "example_id")?)?;
        let queries = get(path, n, obj, "queries")?
            .as_object()
            .ok_or_else(|| ferr(path, n, "queries", "expected an object {lang: question}"))?;
        if queries.is_empty() {
            return Err(ferr(path, n, "queries", "no language"));
        }
        let answers = get(path, n, obj, "answers")?
            .as_object()
            .ok_or_else(|| ferr(path, n, "answers", "expected an object {lang: [answers]}"))?;
        for (code, q) in queries {
            let at = format!("queries.{code}");
            if !q.is_string() {
                return Err(ferr(path, n, &at, "expected a string"));
            }
            let (label, lang) = parse_lang_label(code).map_err(|e| ferr(path, n, &at, e))?;
            let at = format!("answers.{code}");
            let list = answers
                .get(code)
                .ok_or_else(|| {
                    ferr(
                        path,
                        n,
                        &at,
                        "missing (every language of queries needs answers)",
                    )
                })?
                .as_array()
                .ok_or_else(|| ferr(path, n, &at, "expected an array"))?;
            if list.is_empty() {
                return Err(ferr(path, n, &at, "empty answer list"));
            }
            let mut golds: Vec<String> = Vec::new();
            let mut push = |s: String| {
                if !golds.contains(&s) {
                    golds.push(s);
                }
            };
            for (k, a) in list.iter().enumerate() {
                let at = format!("answers.{code}[{k}]");
                let a = a
                    .as_object()
                    .ok_or_else(|| ferr(path, n, &at, "expected an object"))?;
                match a.get("type") {
                    Some(Value::String(_)) => {}
                    _ => return Err(ferr(path, n, &format!("{at}.type"), "expected a string")),
                }
                match a.get("text") {
                    Some(Value::String(s)) => push(s.clone()),
                    Some(Value::Null) => push(String::new()),
                    _ => {
                        return Err(ferr(
                            path,
                            n,
                            &format!("{at}.text"),
                            "expected a string or null",
                        ))
                    }
                }
                match a.get("aliases") {
                    None | Some(Value::Null) => {}
                    Some(Value::Array(al)) => {
                        for (j, s) in al.iter().enumerate() {
                            let s = s.as_str().ok_or_else(|| {
                                ferr(path, n, &format!("{at}.aliases[{j}]"), "expected a string")
                            })?;
                            push(s.to_string());
                        }
                    }
                    Some(_) => {
                        return Err(ferr(
                            path,
                            n,
                            &format!("{at}.aliases"),
                            "expected an array of strings",
                        ))
                    }
                }
            }
            out.push(GoldQuestion {
                id: id.clone(),
                lang: label,
                answer_lang: lang,
                answers: golds,
            });
        }
        Ok(())
    })?;
    set.questions = out;
    Ok(())
}

fn read_xor(path: &Path, set: &mut GoldSet) -> Result<(), QaError> {
    let mut out = Vec::new();
    let mut trimmed = 0usize;
    let mut first_trimmed = None;
    for_each_object(path, |n, obj| {
        let id = nonempty_str(path, n, obj, "id")?.to_string();
        match get(path, n, obj, "question")? {
            Value::String(_) => {}
            _ => return Err(ferr(path, n, "question", "expected a string")),
        }
        let list = get(path, n, obj, "answers")?
            .as_array()
            .ok_or_else(|| ferr(path, n, "answers", "expected an array of strings"))?;
        if list.is_empty() {
            return Err(ferr(path, n, "answers", "empty answer list"));
        }
        let mut answers = Vec::with_capacity(list.len());
        for (k, a) in list.iter().enumerate() {
            match a.as_str() {
                Some(s) if !s.trim().is_empty() => answers.push(s.to_string()),
                Some(_) => return Err(ferr(path, n, &format!("answers[{k}]"), "empty string")),
                None => return Err(ferr(path, n, &format!("answers[{k}]"), "expected a string")),
            }
        }
        let raw = nonempty_str(path, n, obj, "lang")?;
        let code = raw.trim();
        if code != raw {
            trimmed += 1;
            if first_trimmed.is_none() {
                first_trimmed = Some((n, raw.to_string()));
            }
        }
        let (label, lang) = parse_lang_label(code).map_err(|e| ferr(path, n, "lang", e))?;
        out.push(GoldQuestion {
            id,
            lang: label,
            answer_lang: lang,
            answers,
        });
        Ok(())
    })?;
    if let Some((line, raw)) = first_trimmed {
        set.warnings.push(format!(
            "{trimmed} records of '{}' have a language code with surrounding spaces (first: line {line}, {raw:?}); read as the trimmed code",
            path.display()
        ));
    }
    set.lang_codes_trimmed = trimmed;
    set.questions = out;
    Ok(())
}

/// One prediction as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prediction {
    pub id: String,
    /// The language label, when the file gives one.
    pub lang: Option<String>,
    /// The answer text ("" = no answer).
    pub text: String,
    /// Where it was read (e.g. `line 3` or `key "56be…"`), for messages.
    pub at: String,
}

/// A predictions file.
#[derive(Clone, Debug)]
pub struct Predictions {
    pub path: PathBuf,
    /// `json-object`, `json-object-by-lang` or `jsonl`.
    pub format: &'static str,
    pub entries: Vec<Prediction>,
}

/// Reads predictions (see the module documentation).
pub fn read_predictions(path: &Path) -> Result<Predictions, QaError> {
    let io = |source| QaError::Io {
        path: path.to_path_buf(),
        source,
    };
    let bytes = std::fs::read(path).map_err(io)?;
    let is_jsonl = path.extension().is_some_and(|e| e == "jsonl");
    if !is_jsonl {
        let whole: Result<Value, _> = serde_json::from_slice(&bytes);
        let looks_like_record = |m: &Map<String, Value>| {
            (m.contains_key("id") || m.contains_key("example_id"))
                && (m.contains_key("prediction") || m.contains_key("answer"))
        };
        match whole {
            Ok(Value::Object(m)) if !looks_like_record(&m) => return read_pred_object(path, &m),
            Ok(Value::Object(_)) => {}
            Ok(_) => {
                return Err(QaError::Format {
                    path: path.to_path_buf(),
                    at: "(root)".into(),
                    message:
                        "expected a JSON object {id: answer} or {lang: {id: answer}}, or JSONL"
                            .into(),
                })
            }
            Err(e) if path.extension().is_some_and(|x| x == "json") => {
                return Err(QaError::Json {
                    path: path.to_path_buf(),
                    line: e.line(),
                    column: e.column(),
                    source: e,
                })
            }
            Err(_) => {}
        }
    }
    let mut entries = Vec::new();
    for_each_object(path, |n, obj| {
        let (key, v) = one_of(path, n, obj, "id", "example_id")?;
        let id = id_value(path, n, key, v)?;
        let (tkey, tv) = one_of(path, n, obj, "prediction", "answer")?;
        let mut text = match tv {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            _ => return Err(ferr(path, n, tkey, "expected a string or null")),
        };
        match obj.get("binary_answer") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(Value::String(s)) => {
                let b = s.to_lowercase();
                if b != "yes" && b != "no" {
                    return Err(ferr(
                        path,
                        n,
                        "binary_answer",
                        "expected \"yes\", \"no\" or null",
                    ));
                }
                text = b;
            }
            Some(_) => return Err(ferr(path, n, "binary_answer", "expected a string or null")),
        }
        let lang = match obj.get("lang") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => {
                Some(parse_lang_label(s).map_err(|e| ferr(path, n, "lang", e))?.0)
            }
            Some(_) => return Err(ferr(path, n, "lang", "expected a string")),
        };
        entries.push(Prediction {
            id,
            lang,
            text,
            at: format!("line {n}"),
        });
        Ok(())
    })?;
    Ok(Predictions {
        path: path.to_path_buf(),
        format: "jsonl",
        entries,
    })
}

fn read_pred_object(path: &Path, m: &Map<String, Value>) -> Result<Predictions, QaError> {
    let err = |at: String, message: &str| QaError::Format {
        path: path.to_path_buf(),
        at,
        message: message.to_string(),
    };
    let by_lang = m.values().next().is_some_and(Value::is_object);
    let mut entries = Vec::new();
    for (k, v) in m {
        if by_lang {
            let inner = v.as_object().ok_or_else(|| {
                err(
                    format!("key {k:?}"),
                    "expected an object {id: answer} (the other top-level values are objects)",
                )
            })?;
            let (label, _) = parse_lang_label(k).map_err(|e| err(format!("key {k:?}"), &e))?;
            for (id, a) in inner {
                let text = a
                    .as_str()
                    .ok_or_else(|| err(format!("key {k:?}.{id:?}"), "expected a string answer"))?;
                if id.trim().is_empty() {
                    return Err(err(format!("key {k:?}"), "empty question id"));
                }
                entries.push(Prediction {
                    id: id.clone(),
                    lang: Some(label.clone()),
                    text: text.to_string(),
                    at: format!("key {k:?}.{id:?}"),
                });
            }
        } else {
            let text = v.as_str().ok_or_else(|| {
                err(
                    format!("key {k:?}"),
                    "expected a string answer (the first value is a string, so the file is read as {id: answer})",
                )
            })?;
            if k.trim().is_empty() {
                return Err(err("(root)".into(), "empty question id"));
            }
            entries.push(Prediction {
                id: k.clone(),
                lang: None,
                text: text.to_string(),
                at: format!("key {k:?}"),
            });
        }
    }
    Ok(Predictions {
        path: path.to_path_buf(),
        format: if by_lang {
            "json-object-by-lang"
        } else {
            "json-object"
        },
        entries,
    })
}

/// Predictions matched to gold questions.
#[derive(Clone, Debug)]
pub struct Matched {
    /// For each gold question (same order), its prediction text if any.
    pub texts: Vec<Option<String>>,
    /// Predictions left out because their language is not evaluated
    /// (`--lang`).
    pub ignored_other_lang: usize,
}

/// Matches predictions to gold questions by (id, lang), or by id alone when
/// the prediction has no language and the id is unique in the gold set.
/// `languages_filtered` says whether the gold set was restricted to one
/// language (then predictions for other languages are ignored, not errors).
pub fn match_predictions(
    gold: &GoldSet,
    preds: &Predictions,
    languages_filtered: bool,
) -> Result<Matched, QaError> {
    let mut by_key: HashMap<(&str, &str), usize> = HashMap::new();
    let mut by_id: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, q) in gold.questions.iter().enumerate() {
        by_key.insert((q.id.as_str(), q.lang.as_str()), i);
        by_id.entry(q.id.as_str()).or_default().push(i);
    }
    let mut texts: Vec<Option<String>> = vec![None; gold.questions.len()];
    let mut first_at: Vec<Option<&str>> = vec![None; gold.questions.len()];
    let mut unknown: Vec<String> = Vec::new();
    let mut unknown_n = 0usize;
    let mut ambiguous: Option<(String, String)> = None;
    let mut ignored = 0usize;
    for p in &preds.entries {
        let idx = match &p.lang {
            Some(l) => match by_key.get(&(p.id.as_str(), l.as_str())) {
                Some(&i) => Some(i),
                None if languages_filtered => {
                    ignored += 1;
                    continue;
                }
                None => None,
            },
            None => match by_id.get(p.id.as_str()).map(Vec::as_slice) {
                Some([i]) => Some(*i),
                Some(many) => {
                    if ambiguous.is_none() {
                        let langs: Vec<&str> = many
                            .iter()
                            .map(|&i| gold.questions[i].lang.as_str())
                            .collect();
                        ambiguous = Some((p.id.clone(), langs.join(", ")));
                    }
                    continue;
                }
                None => None,
            },
        };
        match idx {
            Some(i) => {
                if let Some(prev) = first_at[i] {
                    return Err(QaError::Format {
                        path: preds.path.clone(),
                        at: p.at.clone(),
                        message: format!(
                            "a second prediction for question {:?} ({}); the first is at {prev}",
                            p.id, gold.questions[i].lang
                        ),
                    });
                }
                first_at[i] = Some(&p.at);
                texts[i] = Some(p.text.clone());
            }
            None => {
                unknown_n += 1;
                if unknown.len() < 5 {
                    let l = p
                        .lang
                        .as_deref()
                        .map(|l| format!(" [{l}]"))
                        .unwrap_or_default();
                    unknown.push(format!("{:?}{l} ({})", p.id, p.at));
                }
            }
        }
    }
    if let Some((id, langs)) = ambiguous {
        return Err(QaError::Invalid(format!(
            "'{}': predictions without a language are ambiguous: question id {id:?} occurs in languages {langs} of the gold set; evaluate one language with --lang, or key predictions by language (JSONL with \"lang\", or {{lang: {{id: answer}}}})",
            preds.path.display()
        )));
    }
    if unknown_n > 0 {
        return Err(QaError::Invalid(format!(
            "'{}': {unknown_n} predictions are for questions not in the gold set '{}', e.g. {}",
            preds.path.display(),
            gold.path.display(),
            unknown.join(", ")
        )));
    }
    Ok(Matched {
        texts,
        ignored_other_lang: ignored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data_dir() -> Option<PathBuf> {
        xlqa_core::testdata::shared_or_skip("qa::load", "mkqa_format_sample")
    }

    fn temp(name: &str, body: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xlqa-qa-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p
    }

    fn auto() -> GoldOptions {
        GoldOptions {
            format: GoldFormat::Auto,
            lang: None,
        }
    }

    #[test]
    fn mkqa_sample_expands_per_language() {
        let Some(data) = data_dir() else { return };
        let p = data.join("mkqa_format_sample/test_mkqa.jsonl.gz");
        let g = read_gold(&p, &auto()).unwrap();
        assert_eq!(g.format, GoldFormat::Mkqa);
        // 6 records × 26 languages
        assert_eq!(g.questions.len(), 156);
        let langs = langs_of(&g.questions);
        assert_eq!(langs.len(), 26);
        assert!(langs.contains(&"zh_cn".to_string()) && langs.contains(&"zh_tw".to_string()));
        let en = |id: &str| {
            g.questions
                .iter()
                .find(|q| q.id == id && q.lang == "en")
                .unwrap()
        };
        // date answer: text "2017" + "2017-05-18" with its aliases, deduplicated
        let q = en("36228854473990432");
        assert_eq!(q.answers[0], "2017");
        assert!(q.answers.contains(&"18 May 2017".to_string()));
        assert_eq!(q.answers.iter().filter(|a| *a == "2017").count(), 1);
        // long_answer with text null → "no answer"
        assert_eq!(en("7721692200040168186").answers, [""]);
        assert!(en("7721692200040168186").no_answer());
        let zh = g.questions.iter().find(|q| q.lang == "zh_cn").unwrap();
        assert_eq!(zh.answer_lang.as_str(), "zh-Hans");
        // --lang keeps one label
        let one = read_gold(
            &p,
            &GoldOptions {
                format: GoldFormat::Auto,
                lang: Some("zh_tw".into()),
            },
        )
        .unwrap();
        assert_eq!(one.questions.len(), 6);
        let msg = read_gold(
            &p,
            &GoldOptions {
                format: GoldFormat::Auto,
                lang: Some("zh".into()),
            },
        )
        .unwrap_err()
        .to_string();
        assert!(msg.contains("no question in language zh"), "{msg}");
    }

    #[test]
    fn xor_train_space_quirk_is_counted() {
        let Some(data) = data_dir() else { return };
        let dir = data.join("xor_tydi_v1.1_retrieve_engspan");
        let g = read_gold(&dir.join("xor_train_retrieve_eng_span.jsonl"), &auto()).unwrap();
        assert_eq!(g.format, GoldFormat::Xor);
        assert_eq!(g.questions.len(), 15250);
        assert_eq!(g.lang_codes_trimmed, 2574);
        assert!(
            g.warnings[0].starts_with("2574 records"),
            "{:?}",
            g.warnings
        );
        assert_eq!(g.questions.iter().filter(|q| q.lang == "ar").count(), 2574);
        let dev = read_gold(&dir.join("xor_dev_retrieve_eng_span_v1_1.jsonl"), &auto()).unwrap();
        assert_eq!(dev.questions.len(), 2110);
        assert_eq!(dev.lang_codes_trimmed, 0);
        let te = &dev.questions[0];
        assert_eq!(
            (te.id.as_str(), te.lang.as_str()),
            ("-1018987027025691298", "te")
        );
        assert_eq!(te.answers, ["Portland", "Portland"]);
    }

    #[test]
    fn folders_and_json_are_detected() {
        let Some(data) = data_dir() else { return };
        assert_eq!(
            detect_format(&data.join("xquad")).unwrap(),
            GoldFormat::Xquad
        );
        assert_eq!(
            detect_format(&data.join("tydiqa_goldp_v1.1")).unwrap(),
            GoldFormat::Tydi
        );
        let ko = data.join("tydiqa_goldp_v1.1/dev/korean_tydiqa_dev.json");
        assert_eq!(detect_format(&ko).unwrap(), GoldFormat::Tydi);
        let g = read_gold(&data.join("xquad/xquad.th.json"), &auto()).unwrap();
        assert_eq!((g.format, g.questions.len()), (GoldFormat::Xquad, 1190));
        assert_eq!(g.questions[0].lang, "th");
        let g = read_gold(
            &data.join("xquad"),
            &GoldOptions {
                format: GoldFormat::Auto,
                lang: Some("de".into()),
            },
        )
        .unwrap();
        assert_eq!(g.questions.len(), 1190);
        assert!(g.questions.iter().all(|q| q.lang == "de"));
    }

    #[test]
    fn strict_gold_errors() {
        let p = temp(
            "xor_bad.jsonl",
            "{\"id\":\"1\",\"question\":\"q\",\"answers\":[\"a\"],\"lang\":\"te\"}\n{\"id\":\"2\",\"question\":\"q\",\"lang\":\"te\"}\n",
        );
        let msg = read_gold(&p, &auto()).unwrap_err().to_string();
        assert!(
            msg.contains("xor_bad.jsonl' line 2, field \"answers\": missing field"),
            "{msg}"
        );
        let p = temp(
            "xor_lang.jsonl",
            "{\"id\":\"1\",\"question\":\"q\",\"answers\":[\"a\"],\"lang\":\"xx\"}\n",
        );
        let msg = read_gold(&p, &auto()).unwrap_err().to_string();
        assert!(
            msg.contains("line 1, field \"lang\"") && msg.contains("'xx'"),
            "{msg}"
        );
        let p = temp(
            "xor_dup.jsonl",
            "{\"id\":\"1\",\"question\":\"q\",\"answers\":[\"a\"],\"lang\":\"te\"}\n{\"id\":\"1\",\"question\":\"q\",\"answers\":[\"b\"],\"lang\":\"te\"}\n",
        );
        let msg = read_gold(&p, &auto()).unwrap_err().to_string();
        assert!(msg.contains("occurs twice in language te"), "{msg}");
        let p = temp(
            "mkqa_bad.jsonl",
            "{\"example_id\":5,\"query\":\"q\",\"queries\":{\"en\":\"q\",\"de\":\"q\"},\"answers\":{\"en\":[{\"type\":\"entity\",\"text\":\"x\"}]}}\n",
        );
        let msg = read_gold(&p, &auto()).unwrap_err().to_string();
        assert!(
            msg.contains("line 1, field \"answers.de\": missing"),
            "{msg}"
        );
        let p = temp("squad.json", "{\"data\":[]}");
        let msg = read_gold(&p, &auto()).unwrap_err().to_string();
        assert!(msg.contains("pass --gold-format"), "{msg}");
    }

    #[test]
    fn prediction_forms() {
        let p = temp("p1.json", "{\"a\": \"Paris\", \"b\": \"\"}");
        let r = read_predictions(&p).unwrap();
        assert_eq!(r.format, "json-object");
        assert_eq!(r.entries.len(), 2);
        assert_eq!(r.entries[0].lang, None);
        let p = temp(
            "p2.json",
            "{\"en\": {\"a\": \"Paris\"}, \"zh_cn\": {\"a\": \"巴黎\"}}",
        );
        let r = read_predictions(&p).unwrap();
        assert_eq!(r.format, "json-object-by-lang");
        assert_eq!(r.entries[1].lang.as_deref(), Some("zh_cn"));
        let p = temp(
            "p3.jsonl",
            "{\"example_id\": -7449157003522518870, \"prediction\": null, \"binary_answer\": null}\n\n{\"id\": \"b\", \"lang\": \"eng\", \"answer\": \"x\"}\n{\"example_id\": 3, \"prediction\": \"x\", \"binary_answer\": \"Yes\"}\n",
        );
        let r = read_predictions(&p).unwrap();
        assert_eq!(r.entries[0].id, "-7449157003522518870");
        assert_eq!(r.entries[0].text, "");
        assert_eq!(r.entries[1].lang.as_deref(), Some("en"));
        assert_eq!(r.entries[1].at, "line 3");
        assert_eq!(r.entries[2].text, "yes");
        let p = temp(
            "p4.jsonl",
            "{\"id\": \"a\", \"prediction\": \"x\"}\n{\"id\": \"b\", \"prediction\": 3}\n",
        );
        let msg = read_predictions(&p).unwrap_err().to_string();
        assert!(
            msg.contains("p4.jsonl' line 2, field \"prediction\": expected a string or null"),
            "{msg}"
        );
        let p = temp("p5.json", "{\"a\": \"x\", \"b\": 1}");
        let msg = read_predictions(&p).unwrap_err().to_string();
        assert!(msg.contains("key \"b\""), "{msg}");
        let p = temp("p6.json", "{\"a\": ");
        let msg = read_predictions(&p).unwrap_err().to_string();
        assert!(msg.contains("p6.json' is not valid JSON"), "{msg}");
    }
}
