//! TREC qrels and run files, and their resolution against an index.
//!
//! - qrels: `qid iter docno rel` (4 whitespace-separated columns, `rel` an
//!   integer; blank lines ignored; a (qid, docno) pair judged twice is an
//!   error);
//! - run: `qid Q0 docno rank score tag` (6 columns, `rank` an integer,
//!   `score` a finite number; a docno listed twice for one qid is an
//!   error). Each topic's list is sorted as trec_eval does: score
//!   descending, ties by docno descending.

use super::OpenEvalError;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use xlqa_core::Passage;
use xlqa_data::io::read_numbered_lines;

/// Judgments as read: qid → docno → (rel, line).
#[derive(Clone, Debug, Default)]
pub struct Qrels {
    pub file: PathBuf,
    pub by_qid: BTreeMap<String, BTreeMap<String, (i64, usize)>>,
}

/// A run as read: qid → docnos in evaluation order (see the module doc).
#[derive(Clone, Debug, Default)]
pub struct RunFile {
    pub file: PathBuf,
    /// (docno, score, line)
    pub by_qid: BTreeMap<String, Vec<(String, f64, usize)>>,
}

pub fn read_qrels(path: &Path) -> Result<Qrels, OpenEvalError> {
    let mut q = Qrels {
        file: path.to_path_buf(),
        ..Qrels::default()
    };
    for (n, line) in read_numbered_lines(path)? {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.is_empty() {
            continue;
        }
        if cols.len() != 4 {
            return Err(OpenEvalError::input(
                path,
                n,
                format!(
                    "expected 4 columns `qid iter docno rel`, found {}",
                    cols.len()
                ),
            ));
        }
        let rel: i64 = cols[3].parse().map_err(|_| {
            OpenEvalError::input(
                path,
                n,
                format!(
                    "column 4 (rel) must be an integer relevance grade, found \"{}\"",
                    cols[3]
                ),
            )
        })?;
        let topic = q.by_qid.entry(cols[0].to_string()).or_default();
        if let Some((_, first)) = topic.insert(cols[2].to_string(), (rel, n)) {
            return Err(OpenEvalError::input(
                path,
                n,
                format!(
                    "topic {} judges docno {} twice (first on line {first})",
                    cols[0], cols[2]
                ),
            ));
        }
    }
    if q.by_qid.is_empty() {
        return Err(OpenEvalError::input(path, 0, "no judgments in the file"));
    }
    Ok(q)
}

pub fn read_run(path: &Path) -> Result<RunFile, OpenEvalError> {
    let mut r = RunFile {
        file: path.to_path_buf(),
        ..RunFile::default()
    };
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for (n, line) in read_numbered_lines(path)? {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.is_empty() {
            continue;
        }
        if cols.len() != 6 {
            return Err(OpenEvalError::input(
                path,
                n,
                format!(
                    "expected 6 columns `qid Q0 docno rank score tag`, found {}",
                    cols.len()
                ),
            ));
        }
        if cols[3].parse::<i64>().is_err() {
            return Err(OpenEvalError::input(
                path,
                n,
                format!("column 4 (rank) must be an integer, found \"{}\"", cols[3]),
            ));
        }
        let score: f64 = match cols[4].parse::<f64>() {
            Ok(s) if s.is_finite() => s,
            _ => {
                return Err(OpenEvalError::input(
                    path,
                    n,
                    format!(
                        "column 5 (score) must be a finite number, found \"{}\"",
                        cols[4]
                    ),
                ))
            }
        };
        if let Some(first) = seen.insert((cols[0].to_string(), cols[2].to_string()), n) {
            return Err(OpenEvalError::input(
                path,
                n,
                format!(
                    "topic {} lists docno {} twice (first on line {first})",
                    cols[0], cols[2]
                ),
            ));
        }
        r.by_qid
            .entry(cols[0].to_string())
            .or_default()
            .push((cols[2].to_string(), score, n));
    }
    if r.by_qid.is_empty() {
        return Err(OpenEvalError::input(path, 0, "no lines in the run file"));
    }
    for list in r.by_qid.values_mut() {
        sort_trec(list);
    }
    Ok(r)
}

/// trec_eval order: score descending, then docno descending.
pub fn sort_trec(list: &mut [(String, f64, usize)]) {
    list.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
}

/// Maps each run topic's docnos (passage ids) to passage rows.
pub fn resolve_run(
    run: &RunFile,
    passages: &[&Passage],
) -> Result<HashMap<String, Vec<usize>>, OpenEvalError> {
    let by_id: HashMap<&str, usize> = passages
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.as_str(), i))
        .collect();
    let mut out = HashMap::new();
    for (qid, list) in &run.by_qid {
        let mut rows = Vec::with_capacity(list.len());
        for (docno, _, line) in list {
            let row = by_id.get(docno.as_str()).ok_or_else(|| {
                OpenEvalError::input(
                    &run.file,
                    *line,
                    format!(
                        "docno \"{docno}\" is not a passage id of the index (run files list passage ids such as \"{}\")",
                        passages.first().map(|p| p.id.as_str()).unwrap_or("doc#0")
                    ),
                )
            })?;
            rows.push(*row);
        }
        out.insert(qid.clone(), rows);
    }
    Ok(out)
}

/// Judgments of one topic, resolved against the index.
#[derive(Clone, Debug, PartialEq)]
pub struct Judgments {
    /// True when the docnos are document ids (any passage of the document
    /// matches), false when they are passage ids.
    pub document_level: bool,
    /// Judged unit (passage id or document id) → grade.
    pub grades: HashMap<String, i64>,
    /// Grades > 0 of all judged units, the unknown ones included.
    pub relevant_grades: Vec<i64>,
    /// Judged units in neither the passage ids nor the document ids.
    pub unknown: usize,
}

impl Judgments {
    /// The unit a passage matches and its grade, if judged.
    pub fn judge<'a>(&'a self, p: &'a Passage) -> Option<(&'a str, i64)> {
        let key = if self.document_level {
            p.doc_id.as_str()
        } else {
            p.id.as_str()
        };
        self.grades.get(key).map(|g| (key, *g))
    }
}

/// Resolves each topic's docnos against the index: passage ids first, then
/// document ids. A topic mixing the two levels is an error; when no docno
/// at all is found in the index, the qrels do not belong to it (error).
pub fn resolve_qrels(
    qrels: &Qrels,
    passages: &[&Passage],
) -> Result<(HashMap<String, Judgments>, usize), OpenEvalError> {
    let pids: std::collections::HashSet<&str> = passages.iter().map(|p| p.id.as_str()).collect();
    let dids: std::collections::HashSet<&str> =
        passages.iter().map(|p| p.doc_id.as_str()).collect();
    let mut out = HashMap::new();
    let mut unknown_total = 0;
    let mut known_total = 0;
    for (qid, judged) in &qrels.by_qid {
        let mut level: Option<(bool, usize)> = None;
        let mut j = Judgments {
            document_level: false,
            grades: HashMap::new(),
            relevant_grades: Vec::new(),
            unknown: 0,
        };
        for (docno, (rel, line)) in judged {
            let this = if pids.contains(docno.as_str()) {
                Some(false)
            } else if dids.contains(docno.as_str()) {
                Some(true)
            } else {
                None
            };
            match (this, level) {
                (None, _) => {
                    j.unknown += 1;
                }
                (Some(d), None) => level = Some((d, *line)),
                (Some(d), Some((l, first))) if d != l => {
                    return Err(OpenEvalError::input(
                        &qrels.file,
                        *line,
                        format!(
                            "topic {qid} mixes passage-level and document-level judgments (docno \"{docno}\" is a {} id, the one on line {first} a {} id)",
                            if d { "document" } else { "passage" },
                            if l { "document" } else { "passage" }
                        ),
                    ))
                }
                _ => {}
            }
            if this.is_some() {
                known_total += 1;
            }
            j.grades.insert(docno.clone(), *rel);
            if *rel > 0 {
                j.relevant_grades.push(*rel);
            }
        }
        j.document_level = level.is_some_and(|(d, _)| d);
        unknown_total += j.unknown;
        out.insert(qid.clone(), j);
    }
    if known_total == 0 {
        return Err(OpenEvalError::Mismatch(format!(
            "{}: none of the judged docnos is a passage id or a document id of the index; the qrels do not belong to this collection",
            qrels.file.display()
        )));
    }
    Ok((out, unknown_total))
}
