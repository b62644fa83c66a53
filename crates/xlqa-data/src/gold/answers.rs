//! The gold reader for answer scoring (`xlqa eval qa`): strict, errors as
//! `'file' line N, field "x": message` ([`DataError::Record`]).
//!
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
//!   Answers are kept as given (repeated annotations included).
//!
//! The JSONL helpers ([`for_each_object`], [`ferr`], [`id_value`]) are public
//! for the predictions reader of `xlqa-eval`, which reports errors the same way.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde_json::{Map, Value};
use xlqa_core::Lang;

use super::{langs_of, GoldFormat, GoldItem, GoldOptions, GoldSet};
use crate::error::{DataError, Result};
use crate::squad;

/// A language label and the language of its rules: MKQA's `zh_cn` →
/// (`zh_cn`, `zh-Hans`), `zh_tw`/`zh_hk` → `zh-Hant`; anything else must be
/// a valid code and is canonicalized (`eng` → `en`). Codes with surrounding
/// whitespace are rejected here (callers decide whether to trim).
pub fn parse_lang_label(code: &str) -> std::result::Result<(String, Lang), String> {
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

/// Reads a gold set for answer scoring (see the module documentation).
pub(super) fn read(path: &Path, format: GoldFormat, opts: &GoldOptions) -> Result<GoldSet> {
    if opts.answers_lang.is_some() {
        return Err(DataError::Invalid(
            "the answers' language of the gold set applies to retrieval evaluation only".into(),
        ));
    }
    let filter = match &opts.lang {
        Some(l) => {
            Some(parse_lang_label(l).map_err(|e| DataError::Invalid(format!("--lang: {e}")))?)
        }
        None => None,
    };
    let mut set = GoldSet {
        path: path.to_path_buf(),
        format,
        items: Vec::new(),
        notes: Vec::new(),
        lang_codes_trimmed: 0,
    };
    let mut filter_applies = true;
    match format {
        GoldFormat::Auto => unreachable!("resolved above"),
        GoldFormat::Squad | GoldFormat::Xquad => {
            let examples = if path.is_dir() {
                squad::read_xquad_dir(path)?
            } else {
                let lang = match &filter {
                    Some((_, l)) => l.clone(),
                    None => lang_from_file_name(path).ok_or_else(|| {
                        DataError::Invalid(format!(
                            "cannot tell the language of '{}' from its name (expected xquad.<lang>.json): pass --lang",
                            path.display()
                        ))
                    })?,
                };
                filter_applies = false;
                squad::read_squad(path, &lang)?
            };
            set.items = examples
                .into_iter()
                .map(|e| GoldItem::single(e.id, e.lang.to_string(), e.lang, e.question, e.answers))
                .collect();
        }
        GoldFormat::Tydi => {
            let examples = if path.is_dir() {
                squad::read_tydi_goldp_dev_dir(path)?
            } else {
                squad::read_tydi_goldp(path)?
            };
            set.items = examples
                .into_iter()
                .map(|e| GoldItem::single(e.id, e.lang.to_string(), e.lang, e.question, e.answers))
                .collect();
        }
        GoldFormat::Mkqa => read_mkqa(path, &mut set)?,
        GoldFormat::Xor => read_xor(path, &mut set)?,
        GoldFormat::Questions => {
            return Err(DataError::Invalid(format!(
                "'{}': a question file without answers cannot be scored for answers",
                path.display()
            )))
        }
    }
    check_unique(&set)?;
    if let (Some((label, _)), true) = (&filter, filter_applies) {
        let present: Vec<String> = langs_of(&set.items);
        set.items.retain(|q| &q.label == label);
        if set.items.is_empty() {
            return Err(DataError::Invalid(format!(
                "'{}' has no question in language {label} (languages: {})",
                path.display(),
                present.join(", ")
            )));
        }
    }
    if set.items.is_empty() {
        return Err(DataError::Invalid(format!(
            "'{}' holds no question",
            path.display()
        )));
    }
    Ok(set)
}

fn check_unique(set: &GoldSet) -> Result<()> {
    let mut seen = HashSet::new();
    for q in &set.items {
        if !seen.insert((q.id.as_str(), q.label.as_str())) {
            return Err(DataError::Invalid(format!(
                "'{}': question id {:?} occurs twice in language {}",
                set.path.display(),
                q.id,
                q.label
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

pub(super) fn detect_format(path: &Path) -> Result<GoldFormat> {
    let io = |source| DataError::io(path, source);
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
        return Err(DataError::Invalid(format!(
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
                    return Err(DataError::Invalid(format!("'{}' is empty", path.display())));
                }
            }
        };
        let v: Value =
            serde_json::from_str(&first).map_err(|source| DataError::json(path, source))?;
        let has = |k: &str| v.get(k).is_some();
        if has("example_id") && has("queries") {
            return Ok(GoldFormat::Mkqa);
        }
        if has("id") && has("answers") && has("lang") {
            return Ok(GoldFormat::Xor);
        }
        return Err(DataError::Invalid(format!(
            "cannot tell the gold format of '{}': its first record is neither MKQA (example_id, queries, answers) nor XOR/MIA (id, question, answers, lang); pass --gold-format",
            path.display()
        )));
    }
    if name.ends_with(".json") {
        let bytes = std::fs::read(path).map_err(io)?;
        let v: Value =
            serde_json::from_slice(&bytes).map_err(|source| DataError::json(path, source))?;
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
            return Err(DataError::Invalid(format!(
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
    Err(DataError::Invalid(format!(
        "cannot tell the gold format of '{}' from its name (.json, .jsonl, .jsonl.gz or a folder): pass --gold-format",
        path.display()
    )))
}

type Lines = Box<dyn Iterator<Item = std::io::Result<String>>>;

fn open_lines(path: &Path) -> Result<Lines> {
    let file = std::fs::File::open(path).map_err(|source| DataError::io(path, source))?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    Ok(Box::new(BufReader::new(reader).lines()))
}

/// Iterates over the non-blank lines of a JSONL file as JSON objects, with
/// their 1-based line numbers.
pub fn for_each_object(
    path: &Path,
    mut f: impl FnMut(usize, &Map<String, Value>) -> Result<()>,
) -> Result<()> {
    for (i, line) in open_lines(path)?.enumerate() {
        let n = i + 1;
        let line = line.map_err(|source| DataError::io(path, source))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line).map_err(|e| DataError::Record {
            path: path.to_path_buf(),
            at: format!("line {n}"),
            message: format!("not valid JSON: {e}"),
        })?;
        let obj = v.as_object().ok_or_else(|| DataError::Record {
            path: path.to_path_buf(),
            at: format!("line {n}"),
            message: "expected a JSON object".into(),
        })?;
        f(n, obj)?;
    }
    Ok(())
}

pub fn ferr(path: &Path, line: usize, field: &str, message: impl Into<String>) -> DataError {
    DataError::Record {
        path: path.to_path_buf(),
        at: format!("line {line}, field {field:?}"),
        message: message.into(),
    }
}

fn get<'a>(path: &Path, line: usize, obj: &'a Map<String, Value>, key: &str) -> Result<&'a Value> {
    obj.get(key)
        .ok_or_else(|| ferr(path, line, key, "missing field"))
}

fn nonempty_str<'a>(
    path: &Path,
    line: usize,
    obj: &'a Map<String, Value>,
    key: &str,
) -> Result<&'a str> {
    match get(path, line, obj, key)? {
        Value::String(s) if !s.trim().is_empty() => Ok(s),
        Value::String(_) => Err(ferr(path, line, key, "empty string")),
        _ => Err(ferr(path, line, key, "expected a string")),
    }
}

/// An id given as a string or an integer (MKQA's `example_id`).
pub fn id_value(path: &Path, line: usize, key: &str, v: &Value) -> Result<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
        Value::String(_) => Err(ferr(path, line, key, "empty string")),
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        _ => Err(ferr(path, line, key, "expected a string or an integer")),
    }
}

fn read_mkqa(path: &Path, set: &mut GoldSet) -> Result<()> {
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
            let question = q.as_str().unwrap_or_default().to_string();
            out.push(GoldItem::single(id.clone(), label, lang, question, golds));
        }
        Ok(())
    })?;
    set.items = out;
    Ok(())
}

fn read_xor(path: &Path, set: &mut GoldSet) -> Result<()> {
    let mut out = Vec::new();
    let mut trimmed = 0usize;
    let mut first_trimmed = None;
    for_each_object(path, |n, obj| {
        let id = nonempty_str(path, n, obj, "id")?.to_string();
        let question = match get(path, n, obj, "question")? {
            Value::String(q) => q.clone(),
            _ => return Err(ferr(path, n, "question", "expected a string")),
        };
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
        out.push(GoldItem::single(id, label, lang, question, answers));
        Ok(())
    })?;
    if let Some((line, raw)) = first_trimmed {
        set.notes.push(format!(
            "{trimmed} records of '{}' have a language code with surrounding spaces (first: line {line}, {raw:?}); read as the trimmed code",
            path.display()
        ));
    }
    set.lang_codes_trimmed = trimmed;
    set.items = out;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gold::{detect_format, read_gold, GoldPurpose};
    use crate::io::temp_file as temp;
    use std::path::PathBuf;

    fn data_dir() -> Option<PathBuf> {
        xlqa_core::testdata::shared_or_skip("gold::answers", "mkqa_format_sample")
    }

    fn auto() -> GoldOptions {
        GoldOptions {
            purpose: GoldPurpose::Answers,
            answers_lang: None,
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
        assert_eq!(g.items.len(), 156);
        let langs = langs_of(&g.items);
        assert_eq!(langs.len(), 26);
        assert!(langs.contains(&"zh_cn".to_string()) && langs.contains(&"zh_tw".to_string()));
        let en = |id: &str| {
            g.items
                .iter()
                .find(|q| q.id == id && q.label == "en")
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
        let zh = g.items.iter().find(|q| q.label == "zh_cn").unwrap();
        assert_eq!(zh.answers_lang.as_str(), "zh-Hans");
        // --lang keeps one label
        let one = read_gold(
            &p,
            &GoldOptions {
                purpose: GoldPurpose::Answers,
                answers_lang: None,
                format: GoldFormat::Auto,
                lang: Some("zh_tw".into()),
            },
        )
        .unwrap();
        assert_eq!(one.items.len(), 6);
        let msg = read_gold(
            &p,
            &GoldOptions {
                purpose: GoldPurpose::Answers,
                answers_lang: None,
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
        assert_eq!(g.items.len(), 15250);
        assert_eq!(g.lang_codes_trimmed, 2574);
        assert!(g.notes[0].starts_with("2574 records"), "{:?}", g.notes);
        assert_eq!(g.items.iter().filter(|q| q.label == "ar").count(), 2574);
        let dev = read_gold(&dir.join("xor_dev_retrieve_eng_span_v1_1.jsonl"), &auto()).unwrap();
        assert_eq!(dev.items.len(), 2110);
        assert_eq!(dev.lang_codes_trimmed, 0);
        let te = &dev.items[0];
        assert_eq!(
            (te.id.as_str(), te.label.as_str()),
            ("-1018987027025691298", "te")
        );
        assert_eq!(te.answers, ["Portland", "Portland"]);
    }

    #[test]
    fn folders_and_json_are_detected() {
        let Some(data) = data_dir() else { return };
        assert_eq!(
            detect_format(GoldPurpose::Answers, &data.join("xquad")).unwrap(),
            GoldFormat::Xquad
        );
        assert_eq!(
            detect_format(GoldPurpose::Answers, &data.join("tydiqa_goldp_v1.1")).unwrap(),
            GoldFormat::Tydi
        );
        let ko = data.join("tydiqa_goldp_v1.1/dev/korean_tydiqa_dev.json");
        assert_eq!(
            detect_format(GoldPurpose::Answers, &ko).unwrap(),
            GoldFormat::Tydi
        );
        let g = read_gold(&data.join("xquad/xquad.th.json"), &auto()).unwrap();
        assert_eq!((g.format, g.items.len()), (GoldFormat::Xquad, 1190));
        assert_eq!(g.items[0].label, "th");
        let g = read_gold(
            &data.join("xquad"),
            &GoldOptions {
                purpose: GoldPurpose::Answers,
                answers_lang: None,
                format: GoldFormat::Auto,
                lang: Some("de".into()),
            },
        )
        .unwrap();
        assert_eq!(g.items.len(), 1190);
        assert!(g.items.iter().all(|q| q.label == "de"));
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
}
