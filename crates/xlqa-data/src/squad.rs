//! Readers for the extractive-QA datasets in the shared data folder
//! (see `shared/DATA.md`): XQuAD (SQuAD v1.1 JSON, one file per language)
//! and TyDi QA GoldP v1.1 (SQuAD-like JSON, the language given by the
//! prefix of every question id, e.g. `swahili--8211684794284159625-4`).
//!
//! Every error names the file and the JSON path of the problem, e.g.
//! `data[3].paragraphs[1].qas[0].answers[0].answer_start`.

use std::path::{Path, PathBuf};

use serde_json::Value;
use xlqa_core::Lang;

use crate::error::{DataError, Result};
use crate::io::{char_to_byte, list_files, read_json, JsonAt};

/// One extractive question with its gold passage.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct QaExample {
    /// Question id as in the file (XQuAD ids are shared by all languages).
    pub id: String,
    /// Language of the question and the context.
    pub lang: Lang,
    pub question: String,
    /// The paragraph that holds the answer.
    pub context: String,
    /// Title of the article the paragraph comes from.
    pub title: String,
    /// Gold answer strings (TyDi has repeated annotations; kept as given).
    pub answers: Vec<String>,
    /// Start of each answer in `context`, in **characters** (Unicode scalar
    /// values), as SQuAD counts them. Use [`QaExample::answer_byte_range`]
    /// to slice a Rust string.
    pub answer_starts: Vec<usize>,
}

impl QaExample {
    /// The byte range of answer `i` in `context` (`None` if `i` is out of
    /// range). The readers check that this range holds the answer text.
    pub fn answer_byte_range(&self, i: usize) -> Option<std::ops::Range<usize>> {
        let start = *self.answer_starts.get(i)?;
        let answer = self.answers.get(i)?;
        let begin = char_to_byte(&self.context, start)?;
        let end = begin + answer.len();
        (end <= self.context.len()).then_some(begin..end)
    }
}

/// Reads a SQuAD v1.1 JSON file (XQuAD) whose every question is in `lang`.
pub fn read_squad(path: &Path, lang: &Lang) -> Result<Vec<QaExample>> {
    let root = read_json(path)?;
    walk_squad(path, &root, |_, _| Ok(lang.clone()))
}

/// Reads every `xquad.<lang>.json` file of an XQuAD folder (e.g.
/// `shared/data/xquad`), languages in code order. Other files are ignored.
pub fn read_xquad_dir(dir: &Path) -> Result<Vec<QaExample>> {
    let mut files = Vec::new();
    for path in list_files(dir)? {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(code) = name
            .strip_prefix("xquad.")
            .and_then(|rest| rest.strip_suffix(".json"))
        else {
            continue;
        };
        let lang = Lang::parse(code).map_err(|e| {
            DataError::format(
                &path,
                "(file name)",
                format!("'{code}' in the file name is not a language code: {e}"),
            )
        })?;
        files.push((lang, path));
    }
    if files.is_empty() {
        return Err(DataError::NoFiles {
            dir: dir.to_path_buf(),
            what: "xquad.<lang>.json files".to_string(),
        });
    }
    files.sort();
    let mut out = Vec::new();
    for (lang, path) in files {
        out.extend(read_squad(&path, &lang)?);
    }
    Ok(out)
}

/// TyDi QA language names (the prefix of every question id and of the
/// GoldP train file names) and codes.
pub(crate) const TYDI_LANGUAGES: &[(&str, &str)] = &[
    ("arabic", "ar"),
    ("bengali", "bn"),
    ("english", "en"),
    ("finnish", "fi"),
    ("indonesian", "id"),
    ("japanese", "ja"),
    ("korean", "ko"),
    ("russian", "ru"),
    ("swahili", "sw"),
    ("telugu", "te"),
    ("thai", "th"),
];

/// Reads one TyDi QA GoldP file (SQuAD-like JSON). The language of each
/// question is taken from its id prefix (`korean-3543942044825767374-0`),
/// as the official GoldP evaluation does.
pub fn read_tydi_goldp(path: &Path) -> Result<Vec<QaExample>> {
    let root = read_json(path)?;
    walk_squad(path, &root, |id, json_path| {
        let name = id.split('-').next().unwrap_or_default();
        let code = TYDI_LANGUAGES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, c)| *c)
            .ok_or_else(|| DataError::Format {
                path: path.to_path_buf(),
                json_path: json_path.to_string(),
                message: format!(
                    "question id '{id}' does not start with a TyDi language name (arabic-, bengali-, …)"
                ),
            })?;
        Lang::parse(code).map_err(|e| DataError::Format {
            path: path.to_path_buf(),
            json_path: json_path.to_string(),
            message: e.to_string(),
        })
    })
}

/// Reads every `*.json` file of a TyDi GoldP dev folder, in file-name order.
/// `dir` may be the dataset folder (`shared/data/tydiqa_goldp_v1.1`, whose
/// `dev/` is then read) or the `dev/` folder itself.
pub fn read_tydi_goldp_dev_dir(dir: &Path) -> Result<Vec<QaExample>> {
    let dev = dir.join("dev");
    let dir = if dev.is_dir() { dev.as_path() } else { dir };
    let mut files: Vec<PathBuf> = list_files(dir)?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    if files.is_empty() {
        return Err(DataError::NoFiles {
            dir: dir.to_path_buf(),
            what: "TyDi GoldP *.json files".to_string(),
        });
    }
    files.sort();
    let mut out = Vec::new();
    for path in files {
        out.extend(read_tydi_goldp(&path)?);
    }
    Ok(out)
}

/// The shared data folder: `$XLQA_DATA` if set, else the first existing of
/// `../shared/data` (relative to the current directory) and
/// `<workspace>/../shared/data`. `None` when none exists.
pub fn shared_data_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("XLQA_DATA").filter(|v| !v.is_empty()) {
        let dir = PathBuf::from(dir);
        return dir.is_dir().then_some(dir);
    }
    let candidates = [
        PathBuf::from("../shared/data"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    ];
    candidates.into_iter().find(|p| p.is_dir())
}

/// Walks `{"data":[{"title","paragraphs":[{"context","qas":[…]}]}]}`;
/// `lang_of(id, json_path)` gives each question's language.
fn walk_squad(
    path: &Path,
    root: &Value,
    lang_of: impl Fn(&str, &str) -> Result<Lang>,
) -> Result<Vec<QaExample>> {
    let at = JsonAt { path };
    let err = |json_path: &str, message: String| at.err(json_path, message);
    let articles = at
        .field(root, "data", "")?
        .as_array()
        .ok_or_else(|| err("data", "expected an array of articles".into()))?;
    let mut out = Vec::new();
    for (a, article) in articles.iter().enumerate() {
        let ap = format!("data[{a}]");
        let title = at.string(article, "title", &ap)?;
        let paragraphs = at.array(article, "paragraphs", &ap)?;
        for (p, paragraph) in paragraphs.iter().enumerate() {
            let pp = format!("{ap}.paragraphs[{p}]");
            let context = at.string(paragraph, "context", &pp)?;
            let qas = at.array(paragraph, "qas", &pp)?;
            for (q, qa) in qas.iter().enumerate() {
                let qp = format!("{pp}.qas[{q}]");
                let id = at.string(qa, "id", &qp)?;
                let question = at.string(qa, "question", &qp)?;
                let lang = lang_of(id, &format!("{qp}.id"))?;
                let raw_answers = at.array(qa, "answers", &qp)?;
                if raw_answers.is_empty() {
                    return Err(err(
                        &format!("{qp}.answers"),
                        "no answers (SQuAD v2 unanswerable questions are not supported)".into(),
                    ));
                }
                let mut answers = Vec::with_capacity(raw_answers.len());
                let mut answer_starts = Vec::with_capacity(raw_answers.len());
                for (n, answer) in raw_answers.iter().enumerate() {
                    let np = format!("{qp}.answers[{n}]");
                    let text = at.string(answer, "text", &np)?;
                    let start = at.uint(answer, "answer_start", &np)?;
                    let found = char_to_byte(context, start)
                        .and_then(|b| context.get(b..b + text.len()).map(|s| s == text));
                    if found != Some(true) {
                        return Err(err(
                            &format!("{np}.answer_start"),
                            format!(
                                "answer_start {start} (characters) does not point at the answer text {text:?} in the context"
                            ),
                        ));
                    }
                    answers.push(text.to_string());
                    answer_starts.push(start);
                }
                out.push(QaExample {
                    id: id.to_string(),
                    lang,
                    question: question.to_string(),
                    context: context.to_string(),
                    title: title.to_string(),
                    answers,
                    answer_starts,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::temp_file;
    use std::collections::{BTreeMap, BTreeSet};

    fn data_dir() -> Option<PathBuf> {
        xlqa_core::testdata::shared_or_skip("datasets", "tydiqa_goldp_v1.1")
    }

    #[test]
    fn xquad_counts_match_data_md() {
        let Some(data) = data_dir() else { return };
        let all = read_xquad_dir(&data.join("xquad")).unwrap();
        assert_eq!(all.len(), 12 * 1190);
        let mut per_lang: BTreeMap<String, (usize, BTreeSet<String>)> = BTreeMap::new();
        for ex in &all {
            let e = per_lang.entry(ex.lang.to_string()).or_default();
            e.0 += 1;
            e.1.insert(ex.context.clone());
            for i in 0..ex.answers.len() {
                let r = ex.answer_byte_range(i).unwrap();
                assert_eq!(&ex.context[r], ex.answers[i]);
            }
        }
        let langs: Vec<&str> = per_lang.keys().map(String::as_str).collect();
        assert_eq!(
            langs,
            ["ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh"]
        );
        for (lang, (n, contexts)) in &per_lang {
            assert_eq!(*n, 1190, "{lang}");
            assert_eq!(contexts.len(), 240, "{lang}");
        }
        // Fully parallel: the same ids in every language.
        let ids = |l: &str| -> BTreeSet<&str> {
            all.iter()
                .filter(|e| e.lang.as_str() == l)
                .map(|e| e.id.as_str())
                .collect()
        };
        assert_eq!(ids("en"), ids("zh"));
        assert!(all.iter().any(|e| e.id == "56beb4343aeaaa14008c925b"
            && e.lang.as_str() == "de"
            && e.answers == ["308"]
            && e.answer_starts == [38]));
    }

    #[test]
    fn tydi_goldp_dev_counts_match_data_md() {
        let Some(data) = data_dir() else { return };
        let all = read_tydi_goldp_dev_dir(&data.join("tydiqa_goldp_v1.1")).unwrap();
        assert_eq!(all.len(), 5077);
        let mut per_lang: BTreeMap<String, usize> = BTreeMap::new();
        for ex in &all {
            *per_lang.entry(ex.lang.to_string()).or_default() += 1;
            assert!(!ex.answers.is_empty());
            assert_eq!(ex.answers.len(), ex.answer_starts.len());
        }
        let expected: BTreeMap<String, usize> = [
            ("ar", 921),
            ("bn", 113),
            ("en", 440),
            ("fi", 782),
            ("id", 565),
            ("ko", 276),
            ("ru", 812),
            ("sw", 499),
            ("te", 669),
        ]
        .into_iter()
        .map(|(l, n)| (l.to_string(), n))
        .collect();
        assert_eq!(per_lang, expected);
        // The dev folder itself is accepted too.
        let dev = read_tydi_goldp_dev_dir(&data.join("tydiqa_goldp_v1.1/dev")).unwrap();
        assert_eq!(dev.len(), 5077);
        let ko =
            read_tydi_goldp(&data.join("tydiqa_goldp_v1.1/dev/korean_tydiqa_dev.json")).unwrap();
        assert_eq!(ko.len(), 276);
        assert_eq!(ko[0].title, "한니발");
        assert_eq!(ko[0].answers, ["군사령관", "군사령관"]);
    }

    #[test]
    fn errors_name_file_and_json_path() {
        let en = Lang::parse("en").unwrap();
        let body = r#"{"data":[{"title":"T","paragraphs":[
            {"context":"Paris is big.","qas":[{"id":"a","question":"Where?","answers":[{"text":"Paris","answer_start":0}]}]},
            {"context":"Rome.","qas":[{"id":"b","question":"What?","answers":[{"text":"Rome","answer_start":"0"}]}]}]}]}"#;
        let path = temp_file("bad_start.json", body);
        let msg = read_squad(&path, &en).unwrap_err().to_string();
        assert!(msg.contains("bad_start.json"), "{msg}");
        assert!(
            msg.contains("data[0].paragraphs[1].qas[0].answers[0].answer_start"),
            "{msg}"
        );

        let body = r#"{"data":[{"title":"T","paragraphs":[{"context":"Paris","qas":[{"id":"a","question":"Q"}]}]}]}"#;
        let path = temp_file("no_answers.json", body);
        let msg = read_squad(&path, &en).unwrap_err().to_string();
        assert!(
            msg.contains("data[0].paragraphs[0].qas[0].answers: missing field"),
            "{msg}"
        );

        let body = r#"{"data":[{"title":"T","paragraphs":[{"context":"Größe Paris","qas":[{"id":"a","question":"Q","answers":[{"text":"Paris","answer_start":5}]}]}]}]}"#;
        let path = temp_file("offset.json", body);
        let msg = read_squad(&path, &en).unwrap_err().to_string();
        assert!(msg.contains("does not point at the answer"), "{msg}");
        // Character offsets, not bytes: 'Paris' starts at char 6.
        let body = body.replace("\"answer_start\":5", "\"answer_start\":6");
        let path = temp_file("offset_ok.json", &body);
        let ex = read_squad(&path, &en).unwrap();
        assert_eq!(ex[0].answer_byte_range(0), Some(8..13)); // ö and ß take 2 bytes
        assert_eq!(&ex[0].context[8..13], "Paris");

        let body = r#"{"data":[{"title":"T","paragraphs":[{"context":"Paris","qas":[{"id":"klingon-1","question":"Q","answers":[{"text":"Paris","answer_start":0}]}]}]}]}"#;
        let path = temp_file("tydi.json", body);
        let msg = read_tydi_goldp(&path).unwrap_err().to_string();
        assert!(msg.contains("data[0].paragraphs[0].qas[0].id"), "{msg}");

        let path = temp_file("broken.json", "{\"data\": [\n  {\"title\": }");
        let err = read_squad(&path, &en).unwrap_err();
        assert!(matches!(err, DataError::Json { line: 2, .. }), "{err}");

        let missing = Path::new("/nonexistent/xquad.en.json");
        let msg = read_squad(missing, &en).unwrap_err().to_string();
        assert!(msg.contains("/nonexistent/xquad.en.json"), "{msg}");

        let empty =
            std::env::temp_dir().join(format!("xlqa-datasets-empty-{}", std::process::id()));
        std::fs::create_dir_all(&empty).unwrap();
        assert!(matches!(
            read_xquad_dir(&empty).unwrap_err(),
            DataError::NoFiles { .. }
        ));
        std::fs::remove_dir_all(&empty).unwrap();
        // the temporary folder is shared with other tests: remove only these
        for name in [
            "bad_start.json",
            "no_answers.json",
            "offset.json",
            "offset_ok.json",
            "tydi.json",
            "broken.json",
        ] {
            std::fs::remove_file(path.with_file_name(name)).unwrap();
        }
    }
}
