//! Strict reader for predictions, and their matching to a gold set read
//! with [`xlqa_data::gold`].
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

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use xlqa_data::gold::answers::{ferr, for_each_object, id_value};
use xlqa_data::gold::{parse_lang_label, GoldSet};
use xlqa_data::DataError;

use super::QaError;

/// The value of exactly one of the alternative keys `a` and `b`, with the key found.
fn one_of<'a>(
    path: &Path,
    line: usize,
    obj: &'a Map<String, Value>,
    a: &'static str,
    b: &'static str,
) -> xlqa_data::Result<(&'static str, &'a Value)> {
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
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let is_jsonl = path.extension().is_some_and(|e| e == "jsonl");
    if !is_jsonl {
        let whole: Result<Value, _> = serde_json::from_slice(&bytes);
        let looks_like_record = |m: &Map<String, Value>| {
            (m.contains_key("id") || m.contains_key("example_id"))
                && (m.contains_key("prediction") || m.contains_key("answer"))
        };
        match whole {
            Ok(Value::Object(m)) if !looks_like_record(&m) => {
                return Ok(read_pred_object(path, &m)?)
            }
            Ok(Value::Object(_)) => {}
            Ok(_) => {
                return Err(DataError::Record {
                    path: path.to_path_buf(),
                    at: "(root)".into(),
                    message:
                        "expected a JSON object {id: answer} or {lang: {id: answer}}, or JSONL"
                            .into(),
                }
                .into())
            }
            Err(e) if path.extension().is_some_and(|x| x == "json") => {
                return Err(DataError::json(path, e).into())
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

fn read_pred_object(path: &Path, m: &Map<String, Value>) -> xlqa_data::Result<Predictions> {
    let err = |at: String, message: &str| DataError::Record {
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
    for (i, q) in gold.items.iter().enumerate() {
        by_key.insert((q.id.as_str(), q.label.as_str()), i);
        by_id.entry(q.id.as_str()).or_default().push(i);
    }
    let mut texts: Vec<Option<String>> = vec![None; gold.items.len()];
    let mut first_at: Vec<Option<&str>> = vec![None; gold.items.len()];
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
                        let langs: Vec<&str> =
                            many.iter().map(|&i| gold.items[i].label.as_str()).collect();
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
                    return Err(DataError::Record {
                        path: preds.path.clone(),
                        at: p.at.clone(),
                        message: format!(
                            "a second prediction for question {:?} ({}); the first is at {prev}",
                            p.id, gold.items[i].label
                        ),
                    }
                    .into());
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

    fn temp(name: &str, body: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xlqa-qa-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p
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
