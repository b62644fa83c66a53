//! Readers for collection and question files.
//!
//! Collections are JSONL, one document per line, in either the xlqa form
//! `{"id","title","text","lang"?,"group"?}` or the BEIR/Pyserini form
//! `{"_id","title","text"}`. Questions are JSONL `{"id","question","lang"?}`
//! or plain text, one question per line.
//!
//! Every problem names the file, the line and what is wrong. With
//! `skip_invalid` the bad lines are counted (and the first few kept for the
//! report) instead of failing the whole read.

use crate::{Document, Lang, Question};
use serde_json::Value;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// A problem with one input line, or with the file as a whole (`line` 0).
#[derive(Debug, thiserror::Error)]
#[error("{}:{line}: {problem}", file.display())]
pub struct InputError {
    pub file: PathBuf,
    pub line: usize,
    pub problem: String,
}

impl InputError {
    fn new(file: &Path, line: usize, problem: impl Into<String>) -> Self {
        InputError {
            file: file.to_path_buf(),
            line,
            problem: problem.into(),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// Skip bad lines (and count them) instead of stopping at the first one.
    pub skip_invalid: bool,
}

/// What a read skipped, when skipping was asked for.
#[derive(Debug, Default)]
pub struct ReadReport {
    pub read: usize,
    pub skipped: usize,
    /// The first problems met (at most 20), for the user to look at.
    pub examples: Vec<InputError>,
}

impl ReadReport {
    fn skip(&mut self, e: InputError) {
        self.skipped += 1;
        if self.examples.len() < 20 {
            self.examples.push(e);
        }
    }
}

/// A 1-based line number with the line's text, or what is wrong with it.
type NumberedLine = (usize, Result<String, InputError>);

/// Reads the lines of a file as UTF-8, reporting invalid UTF-8 by line.
fn lines(path: &Path) -> Result<Vec<NumberedLine>, InputError> {
    let f = File::open(path).map_err(|e| InputError::new(path, 0, format!("cannot open: {e}")))?;
    let mut out = Vec::new();
    let mut reader = BufReader::new(f);
    let mut buf = Vec::new();
    let mut n = 0;
    loop {
        buf.clear();
        let read = reader
            .by_ref()
            .read_until(b'\n', &mut buf)
            .map_err(|e| InputError::new(path, n + 1, format!("read error: {e}")))?;
        if read == 0 {
            break;
        }
        n += 1;
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        let line = match std::str::from_utf8(&buf) {
            Ok(s) => Ok(s.strip_prefix('\u{feff}').unwrap_or(s).to_string()),
            Err(e) => Err(InputError::new(
                path,
                n,
                format!("invalid UTF-8 at byte {} of the line", e.valid_up_to()),
            )),
        };
        out.push((n, line));
    }
    Ok(out)
}

fn string_field(
    obj: &serde_json::Map<String, Value>,
    names: &[&str],
) -> Result<Option<String>, String> {
    for name in names {
        match obj.get(*name) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) => return Ok(Some(s.clone())),
            Some(Value::Number(n)) => return Ok(Some(n.to_string())),
            Some(other) => {
                return Err(format!(
                    "field \"{name}\" must be a string, found {}",
                    json_kind(other)
                ))
            }
        }
    }
    Ok(None)
}

/// The JSON type of `v` as an error message says it ("a string", "null", …).
pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn parse_lang(obj: &serde_json::Map<String, Value>) -> Result<Option<Lang>, String> {
    match string_field(obj, &["lang", "language"])? {
        None => Ok(None),
        Some(s) if s.trim().is_empty() => Ok(None),
        Some(s) => Lang::parse(&s)
            .map(Some)
            .map_err(|e| format!("field \"lang\": {e}")),
    }
}

fn parse_document(line: &str) -> Result<Document, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("malformed JSON: {e}"))?;
    document_of(v)
}

/// A document from one JSON value (xlqa or BEIR form).
fn document_of(v: Value) -> Result<Document, String> {
    let Value::Object(obj) = v else {
        return Err(format!("expected a JSON object, found {}", json_kind(&v)));
    };
    let id =
        string_field(&obj, &["id", "_id", "docid"])?.ok_or("missing field \"id\" (or \"_id\")")?;
    if id.trim().is_empty() {
        return Err("field \"id\" is empty".into());
    }
    let title = string_field(&obj, &["title"])?.unwrap_or_default();
    let text = string_field(&obj, &["text", "contents"])?.ok_or("missing field \"text\"")?;
    if text.trim().is_empty() {
        return Err("field \"text\" is empty".into());
    }
    let lang = parse_lang(&obj)?;
    let group = string_field(&obj, &["group"])?.filter(|g| !g.trim().is_empty());
    Ok(Document {
        id,
        title,
        text,
        lang,
        group,
    })
}

/// Documents from a request body in the forms `xlqa index` reads: a JSON
/// array of document objects, or JSONL (one object per line). All or
/// nothing: on any problem no document is returned, and every problem is
/// listed as (entry, problem), entries counted from 1 (array elements, or
/// lines of JSONL).
pub fn parse_documents(body: &str) -> Result<Vec<Document>, Vec<(usize, String)>> {
    let entries: Vec<(usize, Result<Value, String>)> = if body.trim_start().starts_with('[') {
        match serde_json::from_str::<Vec<Value>>(body) {
            Ok(vs) => vs
                .into_iter()
                .enumerate()
                .map(|(i, v)| (i + 1, Ok(v)))
                .collect(),
            Err(e) => return Err(vec![(0, format!("malformed JSON array: {e}"))]),
        }
    } else {
        body.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                (
                    i + 1,
                    serde_json::from_str(l).map_err(|e| format!("malformed JSON: {e}")),
                )
            })
            .collect()
    };
    let mut docs = Vec::new();
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    for (n, v) in entries {
        match v.and_then(document_of) {
            Ok(d) if !seen.insert(d.id.clone()) => {
                problems.push((n, format!("duplicate document id \"{}\"", d.id)))
            }
            Ok(d) => docs.push(d),
            Err(p) => problems.push((n, p)),
        }
    }
    if docs.is_empty() && problems.is_empty() {
        problems.push((0, "no documents in the request".into()));
    }
    if problems.is_empty() {
        Ok(docs)
    } else {
        Err(problems)
    }
}

/// Reads a collection file. Duplicate ids are an error (they would make run
/// files ambiguous).
pub fn read_collection(
    path: &Path,
    opts: &ReadOptions,
) -> Result<(Vec<Document>, ReadReport), InputError> {
    let mut docs = Vec::new();
    let mut report = ReadReport::default();
    let mut seen = HashSet::new();
    for (n, line) in lines(path)? {
        let parsed = line.and_then(|l| {
            if l.trim().is_empty() {
                return Ok(None);
            }
            parse_document(&l)
                .map(Some)
                .map_err(|p| InputError::new(path, n, p))
        });
        let parsed = parsed.and_then(|d| match d {
            Some(d) if !seen.insert(d.id.clone()) => Err(InputError::new(
                path,
                n,
                format!("duplicate document id \"{}\"", d.id),
            )),
            other => Ok(other),
        });
        match parsed {
            Ok(Some(d)) => {
                report.read += 1;
                docs.push(d);
            }
            Ok(None) => {}
            Err(e) if opts.skip_invalid => report.skip(e),
            Err(e) => return Err(e),
        }
    }
    if docs.is_empty() {
        return Err(InputError::new(path, 0, "no documents in the file"));
    }
    Ok((docs, report))
}

fn parse_question(line: &str, n: usize) -> Result<Question, String> {
    if !line.trim_start().starts_with('{') {
        return Ok(Question {
            id: format!("q{n}"),
            question: line.trim().to_string(),
            lang: None,
        });
    }
    let v: Value = serde_json::from_str(line).map_err(|e| format!("malformed JSON: {e}"))?;
    let Value::Object(obj) = v else {
        return Err(format!("expected a JSON object, found {}", json_kind(&v)));
    };
    let question =
        string_field(&obj, &["question", "query", "text"])?.ok_or("missing field \"question\"")?;
    if question.trim().is_empty() {
        return Err("field \"question\" is empty".into());
    }
    let id = string_field(&obj, &["id", "_id", "qid"])?.unwrap_or_else(|| format!("q{n}"));
    let lang = parse_lang(&obj)?;
    Ok(Question { id, question, lang })
}

/// Reads questions: JSONL objects or plain lines (blank lines are ignored).
/// Duplicate ids are an error (answers and run files are keyed by id); a
/// plain line's id is `q` + its line number.
pub fn read_questions(
    path: &Path,
    opts: &ReadOptions,
) -> Result<(Vec<Question>, ReadReport), InputError> {
    let mut qs = Vec::new();
    let mut report = ReadReport::default();
    let mut first_line: HashMap<String, usize> = HashMap::new();
    for (n, line) in lines(path)? {
        let parsed = line.and_then(|l| {
            if l.trim().is_empty() {
                return Ok(None);
            }
            let q = parse_question(&l, n).map_err(|p| InputError::new(path, n, p))?;
            match first_line.entry(q.id.clone()) {
                Entry::Occupied(first) => Err(InputError::new(
                    path,
                    n,
                    format!(
                        "duplicate question id \"{}\" (first on line {})",
                        q.id,
                        first.get()
                    ),
                )),
                Entry::Vacant(v) => {
                    v.insert(n);
                    Ok(Some(q))
                }
            }
        });
        match parsed {
            Ok(Some(q)) => {
                report.read += 1;
                qs.push(q);
            }
            Ok(None) => {}
            Err(e) if opts.skip_invalid => report.skip(e),
            Err(e) => return Err(e),
        }
    }
    if qs.is_empty() {
        return Err(InputError::new(path, 0, "no questions in the file"));
    }
    Ok((qs, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(bytes: &[u8]) -> tempfile_lite::TempFile {
        let f = tempfile_lite::TempFile::new();
        std::fs::File::create(&f.path)
            .unwrap()
            .write_all(bytes)
            .unwrap();
        f
    }

    mod tempfile_lite {
        pub struct TempFile {
            pub path: std::path::PathBuf,
        }
        impl TempFile {
            pub fn new() -> Self {
                use std::sync::atomic::{AtomicUsize, Ordering};
                static N: AtomicUsize = AtomicUsize::new(0);
                let path = std::env::temp_dir().join(format!(
                    "xlqa-core-test-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::SeqCst)
                ));
                TempFile { path }
            }
        }
        impl Drop for TempFile {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }

    #[test]
    fn reads_both_forms() {
        let f = file(
            b"{\"id\":\"a\",\"title\":\"T\",\"text\":\"hello\",\"lang\":\"EN\"}\n\n{\"_id\":\"b\",\"title\":\"U\",\"text\":\"hola\"}\n",
        );
        let (docs, rep) = read_collection(&f.path, &ReadOptions::default()).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(rep.read, 2);
        assert_eq!(docs[0].lang.as_ref().unwrap().as_str(), "en");
        assert_eq!(docs[1].id, "b");
        assert!(docs[1].lang.is_none());
    }

    #[test]
    fn errors_name_file_line_and_problem() {
        let f = file(b"{\"id\":\"a\",\"text\":\"x\"}\n{\"id\":\"b\",\"text\":\n");
        let e = read_collection(&f.path, &ReadOptions::default()).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains(":2: malformed JSON"), "{e}");

        let f = file(b"{\"id\":\"a\",\"title\":\"t\"}\n");
        let e = read_collection(&f.path, &ReadOptions::default()).unwrap_err();
        assert!(e.problem.contains("missing field \"text\""), "{e}");

        let f = file(b"{\"id\":\"a\",\"text\":\"   \"}\n");
        let e = read_collection(&f.path, &ReadOptions::default()).unwrap_err();
        assert!(e.problem.contains("empty"), "{e}");

        let f = file(b"{\"id\":\"a\",\"text\":\"x\",\"lang\":\"klingon\"}\n");
        let e = read_collection(&f.path, &ReadOptions::default()).unwrap_err();
        assert!(e.problem.contains("not a language code"), "{e}");

        let f = file(b"{\"id\":\"a\",\"text\":\"x\"}\n{\"id\":\"a\",\"text\":\"y\"}\n");
        let e = read_collection(&f.path, &ReadOptions::default()).unwrap_err();
        assert!(e.problem.contains("duplicate document id"), "{e}");

        let f = file(b"{\"id\":\"a\",\"text\":\"ok\"}\n{\"id\":\"b\",\"text\":\"\xff\xfe\"}\n");
        let e = read_collection(&f.path, &ReadOptions::default()).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.problem.contains("invalid UTF-8"), "{e}");
    }

    #[test]
    fn skip_invalid_counts() {
        let f = file(b"{\"id\":\"a\",\"text\":\"ok\"}\nnot json\n{\"id\":\"c\",\"text\":\"\"}\n{\"id\":\"d\",\"text\":\"ok\"}\n");
        let (docs, rep) = read_collection(&f.path, &ReadOptions { skip_invalid: true }).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(rep.skipped, 2);
        assert_eq!(rep.examples[0].line, 2);
    }

    #[test]
    fn questions_plain_and_jsonl() {
        let f = file(
            "Wer schrieb Faust?\n{\"id\":\"x\",\"question\":\"谁写了浮士德？\",\"lang\":\"zh\"}\n"
                .as_bytes(),
        );
        let (qs, _) = read_questions(&f.path, &ReadOptions::default()).unwrap();
        assert_eq!(qs[0].id, "q1");
        assert_eq!(qs[1].id, "x");
        assert_eq!(qs[1].lang.as_ref().unwrap().as_str(), "zh");
    }
}
