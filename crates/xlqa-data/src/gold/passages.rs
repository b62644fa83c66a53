//! The gold reader for retrieval evaluation (`xlqa eval retrieval`): which
//! answer strings to look for in passages. Errors are `file:line: message`
//! ([`DataError::Input`]).
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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use serde_json::{Map, Value};
use xlqa_core::Lang;

use super::{GoldFormat, GoldItem, GoldOptions, GoldSet};
use crate::error::{DataError, Result};
use crate::io::read_numbered_lines;
use crate::squad::read_xquad_dir;

/// Reads a gold set for retrieval evaluation (see the module doc).
pub(super) fn read(path: &Path, format: GoldFormat, opts: &GoldOptions) -> Result<GoldSet> {
    if opts.lang.is_some() {
        return Err(DataError::Invalid(
            "a language filter applies to answer scoring only".into(),
        ));
    }
    if opts.answers_lang.is_some() && format != GoldFormat::Xor {
        return Err(DataError::Invalid(format!(
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
        GoldFormat::Squad | GoldFormat::Tydi => {
            return Err(DataError::Invalid(format!(
                "gold format {} is read for answer scoring only; retrieval evaluation reads auto, xor, mkqa, xquad or questions",
                format.as_str()
            )))
        }
        GoldFormat::Auto => unreachable!("resolved above"),
    };
    assign_qids(path, &mut items)?;
    Ok(GoldSet {
        path: path.to_path_buf(),
        format,
        items,
        notes,
        lang_codes_trimmed: 0,
    })
}

pub(super) fn detect_format(path: &Path) -> Result<GoldFormat> {
    if path.is_dir() {
        return Ok(GoldFormat::Xquad);
    }
    let lines = read_numbered_lines(path)?;
    for (n, line) in &lines {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).map_err(|e| {
            DataError::input(
                path,
                *n,
                format!("malformed JSON ({e}); cannot detect the gold format, pass --gold-format"),
            )
        })?;
        let Some(obj) = v.as_object() else {
            return Err(DataError::input(
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
    Err(DataError::input(path, 0, "the file is empty"))
}

fn parse_object(line: &str) -> std::result::Result<Map<String, Value>, String> {
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
fn req_string(
    obj: &Map<String, Value>,
    key: &str,
    allow_int: bool,
) -> std::result::Result<String, String> {
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

fn parse_lang_field(raw: &str, field: &str) -> std::result::Result<Lang, String> {
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
) -> Result<Vec<GoldItem>> {
    let mut items = Vec::new();
    let mut seen: HashMap<(String, Lang), usize> = HashMap::new();
    let mut trimmed: BTreeMap<String, usize> = BTreeMap::new();
    for (n, line) in read_numbered_lines(path)? {
        if line.trim().is_empty() {
            continue;
        }
        let err = |m: String| DataError::input(path, n, m);
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
        return Err(DataError::input(path, 0, "no questions in the file"));
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
fn mkqa_lang(key: &str) -> std::result::Result<Lang, String> {
    match key {
        "zh_cn" => Ok(Lang::parse("zh").map_err(|e| e.to_string())?),
        "zh_tw" | "zh_hk" => Ok(Lang::parse("zh-Hant").map_err(|e| e.to_string())?),
        other => Lang::parse(other).map_err(|e| format!("language key \"{other}\": {e}")),
    }
}

const MKQA_NO_STRING: &[&str] = &["unanswerable", "long_answer", "binary"];

fn read_mkqa(path: &Path, notes: &mut Vec<String>) -> Result<Vec<GoldItem>> {
    let mut items = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut dropped: BTreeMap<String, usize> = BTreeMap::new();
    for (n, line) in read_numbered_lines(path)? {
        if line.trim().is_empty() {
            continue;
        }
        let err = |m: String| DataError::input(path, n, m);
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
        return Err(DataError::input(path, 0, "no examples in the file"));
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

fn read_xquad(dir: &Path) -> Result<Vec<GoldItem>> {
    let examples = read_xquad_dir(dir)?;
    let mut by_id: HashMap<&str, BTreeMap<Lang, Vec<String>>> = HashMap::new();
    let mut seen = HashSet::new();
    for e in &examples {
        if !seen.insert((e.id.as_str(), e.lang.clone())) {
            return Err(DataError::Invalid(format!(
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

fn read_plain_questions(path: &Path) -> Result<Vec<GoldItem>> {
    let mut items = Vec::new();
    let mut seen: HashMap<(String, Lang), usize> = HashMap::new();
    for (n, line) in read_numbered_lines(path)? {
        if line.trim().is_empty() {
            continue;
        }
        let err = |m: String| DataError::input(path, n, m);
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
        return Err(DataError::input(path, 0, "no questions in the file"));
    }
    Ok(items)
}

fn clean_id(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join("_")
}

fn assign_qids(path: &Path, items: &mut [GoldItem]) -> Result<()> {
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
            return Err(DataError::Invalid(format!(
                "{}: question ids \"{other}\" and \"{}\" both give the TREC topic id \"{}\"",
                path.display(),
                it.id,
                it.qid
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gold::{read_gold, GoldPurpose};
    use crate::io::temp_file as tmp;

    fn l(s: &str) -> Lang {
        Lang::parse(s).unwrap()
    }

    fn opts(format: GoldFormat, answers_lang: Option<&str>) -> GoldOptions {
        GoldOptions {
            purpose: GoldPurpose::Passages,
            format,
            lang: None,
            answers_lang: answers_lang.map(l),
        }
    }

    #[test]
    fn xor_loader_trims_language_and_sets_answer_language() {
        let f = tmp(
            "xor.jsonl",
            concat!(
                r#"{"id": "a1", "question": "ما هو؟", "answers": ["Paris", "Paris", "yes"], "lang": " ar", "split": "train"}"#,
                "\n",
                r#"{"id": "a2", "question": "何ですか", "answers": ["Tokyo"], "lang": "ja"}"#,
                "\n"
            ),
        );
        let g = read_gold(&f, &opts(GoldFormat::Auto, Some("en"))).unwrap();
        assert_eq!(g.format, GoldFormat::Xor);
        assert_eq!(g.items[0].lang, l("ar"));
        assert_eq!(g.items[0].answers, vec!["Paris", "yes"]);
        assert_eq!(g.items[0].answers_lang, l("en"));
        assert_eq!(g.items[1].qid, "a2");
        assert!(g.notes[0].contains("1 rows") && g.notes[0].contains("\" ar\""));
        // limit per language
        let mut g2 = g.clone();
        g2.limit_per_lang(1);
        assert_eq!(g2.items.len(), 2);
    }

    #[test]
    fn xor_loader_errors_name_line_and_field() {
        let cases = [
            (
                r#"{"id": "a", "question": "q", "lang": "ar"}"#,
                "\"answers\"",
            ),
            (
                r#"{"id": "a", "question": "q", "answers": [1], "lang": "ar"}"#,
                "answers[0]",
            ),
            (
                r#"{"id": "a", "question": "q", "answers": ["x"], "lang": "xx"}"#,
                "lang",
            ),
            (
                r#"{"id": "a", "question": "", "answers": ["x"], "lang": "ar"}"#,
                "\"question\" is empty",
            ),
            (
                r#"{"id": "a", "question": "q", "answers": [], "lang": "ar"}"#,
                "empty array",
            ),
            (r#"[1, 2]"#, "JSON object"),
        ];
        for (i, (line, want)) in cases.iter().enumerate() {
            let f = tmp(&format!("xorbad{i}.jsonl"), &format!("{{\"id\":\"ok\",\"question\":\"q\",\"answers\":[\"a\"],\"lang\":\"ar\"}}\n{line}\n"));
            let e = read_gold(&f, &opts(GoldFormat::Xor, None))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&format!("xorbad{i}.jsonl:2")) && e.contains(want),
                "{e}"
            );
        }
        let f = tmp(
            "xordup.jsonl",
            "{\"id\":\"a\",\"question\":\"q\",\"answers\":[\"a\"],\"lang\":\"ar\"}\n{\"id\":\"a\",\"question\":\"q\",\"answers\":[\"a\"],\"lang\":\"ar\"}\n",
        );
        let e = read_gold(&f, &opts(GoldFormat::Xor, None))
            .unwrap_err()
            .to_string();
        assert!(e.contains(":2:") && e.contains("duplicate"), "{e}");
        // --answers-lang only for xor
        let q = tmp(
            "plainq.jsonl",
            "{\"id\":\"1\",\"question\":\"q\",\"lang\":\"en\"}\n",
        );
        assert!(read_gold(&q, &opts(GoldFormat::Auto, Some("en"))).is_err());
        let g = read_gold(&q, &opts(GoldFormat::Auto, None)).unwrap();
        assert_eq!(g.format, GoldFormat::Questions);
        let q = tmp("plainq-nolang.jsonl", "{\"id\":\"1\",\"question\":\"q\"}\n");
        let e = read_gold(&q, &opts(GoldFormat::Questions, None))
            .unwrap_err()
            .to_string();
        assert!(e.contains(":1:") && e.contains("lang"), "{e}");
    }

    #[test]
    fn mkqa_loader_gives_parallel_answers_and_shared_ids() {
        let f = tmp(
            "mkqa.jsonl",
            concat!(
                r#"{"example_id": 7, "query": "who", "queries": {"en": "who directed alien", "de": "wer", "zh_cn": "谁", "zh_tw": "誰"}, "answers": {"en": [{"type": "entity", "text": "Ridley Scott", "aliases": ["Sir Ridley Scott"]}], "de": [{"type": "entity", "text": "Ridley Scott"}], "zh_cn": [{"type": "entity", "text": "雷德利·斯科特", "aliases": []}], "zh_tw": [{"type": "entity", "text": "雷利·史考特", "aliases": null}]}}"#,
                "\n",
                r#"{"example_id": 8, "queries": {"en": "why"}, "answers": {"en": [{"type": "unanswerable", "text": null}]}}"#,
                "\n"
            ),
        );
        let g = read_gold(&f, &opts(GoldFormat::Auto, None)).unwrap();
        assert_eq!(g.format, GoldFormat::Mkqa);
        assert_eq!(g.items.len(), 5);
        let en = g.items.iter().find(|i| i.qid == "en:7").unwrap();
        assert_eq!(en.answers, vec!["Ridley Scott", "Sir Ridley Scott"]);
        // en, de, zh (zh_cn) and zh-Hant (zh_tw)
        assert_eq!(en.parallel.len(), 4);
        let tw = g.items.iter().find(|i| i.label == "zh_tw").unwrap();
        assert_eq!(tw.lang, l("zh-Hant"));
        assert_eq!(tw.qid, "zh_tw:7");
        // passages labelled zh get the answers of zh and zh-Hant
        assert_eq!(tw.answers_in(&l("zh")).len(), 2);
        let why = g.items.iter().find(|i| i.id == "8").unwrap();
        assert_eq!(why.qid, "8");
        assert!(why.answers.is_empty() && why.parallel.is_empty());
        assert!(g.notes[0].contains("1 unanswerable"));
        let bad = tmp(
            "mkqabad.jsonl",
            r#"{"example_id": 9, "queries": {"en": "q"}, "answers": {"en": [{"type": "entity", "text": null}]}}"#,
        );
        let e = read_gold(&bad, &opts(GoldFormat::Mkqa, None))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("mkqabad.jsonl:1") && e.contains("answers.en[0]") && e.contains("text"),
            "{e}"
        );
        let bad = tmp(
            "mkqabad2.jsonl",
            r#"{"example_id": 9, "queries": {"en": "q", "fr": "q"}, "answers": {"en": [{"type": "entity", "text": "x"}]}}"#,
        );
        let e = read_gold(&bad, &opts(GoldFormat::Mkqa, None))
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"fr\""), "{e}");
    }

    #[test]
    fn real_data_loaders_when_present() {
        let sh = |rel: &str| {
            xlqa_core::testdata::shared_or_skip("real_data_loaders", rel).map(|d| d.join(rel))
        };
        if let Some(mkqa) = sh("mkqa_format_sample/test_mkqa.jsonl.gz") {
            let g = read_gold(&mkqa, &opts(GoldFormat::Auto, None)).unwrap();
            // 6 examples × 26 languages
            assert_eq!(g.items.len(), 6 * 26);
        }
        if let Some(xor) = sh("xor_tydi_v1.1_retrieve_engspan/xor_train_retrieve_eng_span.jsonl") {
            let g = read_gold(&xor, &opts(GoldFormat::Auto, Some("en"))).unwrap();
            assert_eq!(g.items.len(), 15_250);
            assert!(
                g.notes.iter().any(|n| n.contains("2574 rows")),
                "{:?}",
                g.notes
            );
        }
        if let Some(xquad) = sh("xquad") {
            let g = read_gold(&xquad, &opts(GoldFormat::Auto, None)).unwrap();
            assert_eq!(g.items.len(), 12 * 1190);
            let it = &g.items[0];
            assert_eq!(it.parallel.len(), 12);
            assert_eq!(it.qid, format!("{}:{}", it.label, it.id));
        }
    }
}
