//! Extractive-QA training data in SQuAD v1.1 JSON (`xlqa train reader --data`).
//!
//! A source is a file; a folder stands for every `*.json` file in it. The
//! language of a file is its top-level `"language"` field, else the prefix
//! of its name before `_` (`zh-Hant_drcd.json` → `zh-Hant`); TyDi QA GoldP
//! files (`*tydiqa*.json`) take each question's language from its id, as the
//! official GoldP tools do. The default is the shared `qa_train/` folder
//! (SQuAD v1.1 train and native sets in ten more languages, with every
//! paragraph that overlaps XQuAD, MLQA or TyDi GoldP dev removed upstream)
//! plus TyDi GoldP train (en, ko, sw). `--en-only` is XTREME's zero-shot
//! setting: SQuAD v1.1 train alone.
//!
//! Evaluation sets are refused: a file under `xquad`, `lareqa_xquad_r`,
//! `mkqa` or a TyDi GoldP `dev` folder is an error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use xlqa_core::Lang;
use xlqa_data::squad::{read_squad, read_tydi_goldp, QaExample};

use crate::reader::{ReaderExample, ReaderTrainError};

/// The SQuAD v1.1 train file of the shared `qa_train/` folder.
pub const SQUAD_TRAIN: &str = "qa_train/en_squad11_train.json";

/// TyDi GoldP training files (relative to the shared data folder).
pub const TYDI_TRAIN_FILES: [&str; 3] = [
    "tydiqa_goldp_v1.1/train_partial/english_tydiqa_train.json",
    "tydiqa_goldp_v1.1/train_partial/korean_tydiqa_train.json",
    "tydiqa_goldp_v1.1/train_partial/swahili_tydiqa_train.json",
];

/// Path parts that mark an evaluation set (never trained on).
const EVAL_MARKERS: [&str; 4] = ["xquad", "lareqa", "mkqa", "tydiqa_goldp_v1.1/dev"];

/// The default sources under the shared data folder `data`.
pub fn default_sources(data: &Path, en_only: bool) -> Vec<PathBuf> {
    if en_only {
        return vec![data.join(SQUAD_TRAIN)];
    }
    let mut v = vec![data.join("qa_train")];
    v.extend(TYDI_TRAIN_FILES.iter().map(|f| data.join(f)));
    v
}

/// What was read, per source file and language.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct QaDataSummary {
    /// Questions per `file (lang)`.
    pub files: BTreeMap<String, usize>,
    /// Questions per language.
    pub languages: BTreeMap<String, usize>,
    /// Distinct paragraphs.
    pub paragraphs: usize,
}

/// Expands folders into their `*.json` files (sorted), refusing evaluation sets.
pub fn expand_sources(sources: &[PathBuf]) -> Result<Vec<PathBuf>, ReaderTrainError> {
    let mut out = Vec::new();
    for s in sources {
        let norm = s.to_string_lossy().replace('\\', "/");
        if let Some(m) = EVAL_MARKERS.iter().find(|m| norm.contains(*m)) {
            return Err(ReaderTrainError::Config(format!(
                "{}: looks like an evaluation set ('{m}'); training on it is not allowed",
                s.display()
            )));
        }
        if s.is_dir() {
            let rd = std::fs::read_dir(s)
                .map_err(|e| ReaderTrainError::Config(format!("{}: {e}", s.display())))?;
            let mut files: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(ReaderTrainError::Config(format!(
                    "{}: no *.json files in the folder",
                    s.display()
                )));
            }
            out.extend(files);
        } else if s.is_file() {
            out.push(s.clone());
        } else {
            return Err(ReaderTrainError::Config(format!(
                "{}: no such file or folder",
                s.display()
            )));
        }
    }
    Ok(out)
}

/// The language of a SQuAD-format file: its `"language"` field, else its
/// name's prefix before `_`. `None` for TyDi files (language per question).
fn file_language(path: &Path) -> Result<Option<Lang>, ReaderTrainError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.contains("tydiqa") {
        return Ok(None);
    }
    let declared = read_language_field(path)?;
    let code = declared.unwrap_or_else(|| name.split(['_', '.']).next().unwrap_or("").to_string());
    Lang::parse(&code).map(Some).map_err(|e| {
        ReaderTrainError::Config(format!(
            "{}: cannot tell the language (no \"language\" field, and the name's prefix '{code}' is not a code: {e})",
            path.display()
        ))
    })
}

/// The top-level `"language"` string, read from the start of the file.
fn read_language_field(path: &Path) -> Result<Option<String>, ReaderTrainError> {
    use std::io::Read;
    let mut head = vec![0u8; 4096];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|e| ReaderTrainError::Config(format!("{}: {e}", path.display())))?;
    let head = String::from_utf8_lossy(&head[..n]);
    let Some(at) = head.find("\"language\"") else {
        return Ok(None);
    };
    let rest = head[at + 10..].trim_start().strip_prefix(':').unwrap_or("");
    let rest = rest.trim_start().strip_prefix('"').unwrap_or("");
    Ok(rest
        .split('"')
        .next()
        .map(str::to_string)
        .filter(|s| !s.is_empty()))
}

/// A training example from a dataset question (its first answer).
fn convert(ex: &QaExample, source: &str) -> Option<ReaderExample> {
    let r = ex.answer_byte_range(0)?;
    (ex.context.get(r.clone())? == ex.answers[0]).then(|| ReaderExample {
        id: ex.id.clone(),
        question_lang: ex.lang.as_str().to_string(),
        passage_lang: ex.lang.as_str().to_string(),
        question: ex.question.clone(),
        context: ex.context.clone(),
        title: format!("{source}/{}", ex.title),
        answer: (r.start, r.end),
    })
}

/// Reads every source file (folders expanded). `per_file` keeps the first
/// N questions of each file (for tests).
pub fn read_qa_sources(
    sources: &[PathBuf],
    per_file: Option<usize>,
) -> Result<(Vec<ReaderExample>, QaDataSummary), ReaderTrainError> {
    let mut out = Vec::new();
    let mut sum = QaDataSummary::default();
    for path in expand_sources(sources)? {
        let lang = file_language(&path)?;
        let mut exs = match &lang {
            Some(l) => read_squad(&path, l)?,
            None => read_tydi_goldp(&path)?,
        };
        if let Some(n) = per_file {
            exs.truncate(n);
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for ex in &exs {
            if let Some(e) = convert(ex, &name) {
                *sum.files
                    .entry(format!("{name} ({})", e.question_lang))
                    .or_default() += 1;
                *sum.languages.entry(e.question_lang.clone()).or_default() += 1;
                out.push(e);
            }
        }
    }
    let mut paragraphs: Vec<&str> = out.iter().map(|e| e.context.as_str()).collect();
    paragraphs.sort_unstable();
    paragraphs.dedup();
    sum.paragraphs = paragraphs.len();
    if out.is_empty() {
        return Err(ReaderTrainError::Config(
            "the training sources hold no usable question".into(),
        ));
    }
    Ok((out, sum))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p
    }

    const SQUAD: &str = r#"{"version":"v1.1","language":"de","data":[{"title":"T","paragraphs":[
        {"context":"Der Turm ist 84 Meter hoch.","qas":[{"id":"q1","question":"Wie hoch?","answers":[{"text":"84 Meter","answer_start":13}]}]},
        {"context":"Die Brücke wurde 1932 eröffnet.","qas":[{"id":"q2","question":"Wann?","answers":[{"text":"1932","answer_start":17}]}]}]}]}"#;

    #[test]
    fn reads_folders_with_the_declared_or_named_language() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "xx_any.json", SQUAD);
        write(
            dir.path(),
            "es_other.json",
            &SQUAD.replace(r#""language":"de","#, ""),
        );
        write(dir.path(), "notes.txt", "not json");
        let (exs, sum) = read_qa_sources(&[dir.path().to_path_buf()], None).unwrap();
        assert_eq!(exs.len(), 4);
        assert_eq!(sum.languages.get("de"), Some(&2));
        assert_eq!(sum.languages.get("es"), Some(&2));
        assert_eq!(sum.paragraphs, 2);
        let e = &exs[0];
        assert_eq!(&e.context[e.answer.0..e.answer.1], "84 Meter");
        assert_eq!(e.title, "es_other.json/T");
        let (one, _) = read_qa_sources(&[dir.path().to_path_buf()], Some(1)).unwrap();
        assert_eq!(one.len(), 2);
    }

    #[test]
    fn refuses_evaluation_sets_missing_files_and_unknown_languages() {
        let dir = tempfile::tempdir().unwrap();
        let xq = dir.path().join("xquad");
        std::fs::create_dir(&xq).unwrap();
        let e = read_qa_sources(&[write(&xq, "xquad.de.json", SQUAD)], None).unwrap_err();
        assert!(e.to_string().contains("evaluation set"), "{e}");
        let e = read_qa_sources(&[dir.path().join("nope.json")], None).unwrap_err();
        assert!(e.to_string().contains("no such file"), "{e}");
        let bad = write(
            dir.path(),
            "qq9_x.json",
            &SQUAD.replace(r#""language":"de","#, ""),
        );
        let e = read_qa_sources(&[bad], None).unwrap_err();
        assert!(e.to_string().contains("cannot tell the language"), "{e}");
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert!(read_qa_sources(&[empty], None).is_err());
    }
}
