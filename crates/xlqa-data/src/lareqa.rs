//! Reading XQuAD-R / MLQA-R: SQuAD JSON files, one per language, whose
//! paragraphs also carry `sentences` and `sentence_breaks`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Serialize;
use xlqa_core::Lang;

use crate::error::{DataError, Result};
use crate::io::{read_json, JsonAt};

/// Which sentence holds an answer that starts at character `a`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum AnswerSentenceRule {
    /// The sentence whose half-open span `[start, end)` contains `a`; an
    /// answer that starts in the gap between two sentences belongs to the
    /// next one. What "the sentence containing the answer" means.
    #[default]
    Contains,
    /// The first sentence with `start <= a <= end`, as the evaluation code
    /// released with LAReQA does. Where sentences touch (`end == next
    /// start`, as in the Chinese file) an answer at the start of a sentence
    /// is then given to the sentence before it: 29 zh and 1 hi question of
    /// XQuAD-R differ from `Contains`.
    Released,
}

impl std::str::FromStr for AnswerSentenceRule {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "contains" => Ok(AnswerSentenceRule::Contains),
            "released" => Ok(AnswerSentenceRule::Released),
            _ => Err(format!(
                "unknown answer-sentence rule '{s}' (expected contains or released)"
            )),
        }
    }
}

/// One candidate answer: a sentence of a context paragraph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Index into [`LareqaData::langs`].
    pub lang: usize,
    /// The sentence as given in `sentences`.
    pub sentence: String,
    /// Index into [`LareqaData::contexts`].
    pub context: usize,
    /// Questions (indices into [`LareqaData::qids`]) whose answer it holds.
    pub qids: Vec<usize>,
}

/// One question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LareqaQuestion {
    /// Index into [`LareqaData::qids`] (shared by the translations).
    pub qid: usize,
    /// Index into [`LareqaData::langs`].
    pub lang: usize,
    pub text: String,
}

/// A LAReQA dataset: the pooled candidates of all languages and the questions.
#[derive(Clone, Debug)]
pub struct LareqaData {
    /// Languages, in code order.
    pub langs: Vec<Lang>,
    pub candidates: Vec<Candidate>,
    pub contexts: Vec<String>,
    pub questions: Vec<LareqaQuestion>,
    /// Question ids as in the files.
    pub qids: Vec<String>,
    /// Data quirks that were accepted, each with where it is.
    pub warnings: Vec<String>,
    /// The files read, by language.
    pub files: BTreeMap<String, PathBuf>,
    /// Questions left out because no sentence of any language holds their answer.
    pub excluded_questions: usize,
}

/// What to read.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Only these languages (all files of the folder when empty).
    pub langs: Vec<Lang>,
    /// Only the first N articles of every file (XQuAD-R files are parallel
    /// article by article, so this keeps a parallel slice).
    pub limit_articles: Option<usize>,
    pub rule: AnswerSentenceRule,
}

impl LareqaData {
    /// Candidate indices that answer each qid.
    pub fn answers_by_qid(&self) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); self.qids.len()];
        for (i, c) in self.candidates.iter().enumerate() {
            for &q in &c.qids {
                out[q].push(i);
            }
        }
        out
    }

    /// Number of candidates in each language.
    pub fn candidates_per_lang(&self) -> Vec<usize> {
        let mut n = vec![0; self.langs.len()];
        for c in &self.candidates {
            n[c.lang] += 1;
        }
        n
    }
}

/// The language of a file from its name: `de.json`, or a name ending in
/// `.de.json`, `-de.json` or `_de.json`.
fn lang_of_file(path: &Path) -> Option<Lang> {
    let stem = path.file_stem()?.to_str()?;
    let code = stem.rsplit(['.', '-', '_']).next().unwrap_or(stem);
    if code.len() < 2 || code.len() > 3 {
        return None;
    }
    Lang::parse(code).ok()
}

/// Reads every `<lang>.json` of `dir` (or those of `opts.langs`).
pub fn read_lareqa_dir(dir: &Path, opts: &LoadOptions) -> Result<LareqaData> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut files: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut unnamed = Vec::new();
    for e in entries {
        let path = e.map_err(|e| DataError::io(dir, e))?.path();
        if path.extension().and_then(|x| x.to_str()) != Some("json") {
            continue;
        }
        match lang_of_file(&path) {
            Some(l) => {
                if let Some(prev) = files.insert(l.as_str().to_string(), path.clone()) {
                    return Err(DataError::Invalid(format!(
                        "two files for language {l} in {}: {} and {}",
                        dir.display(),
                        prev.display(),
                        path.display()
                    )));
                }
            }
            None => unnamed.push(path),
        }
    }
    if !unnamed.is_empty() {
        return Err(DataError::Invalid(format!(
            "cannot tell the language of {} from its name: name the files <lang>.json (e.g. de.json)",
            unnamed
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if !opts.langs.is_empty() {
        for l in &opts.langs {
            if !files.contains_key(l.as_str()) {
                return Err(DataError::Invalid(format!(
                    "no file for language {l} in {} (it has: {})",
                    dir.display(),
                    files.keys().cloned().collect::<Vec<_>>().join(" ")
                )));
            }
        }
        files.retain(|k, _| opts.langs.iter().any(|l| l.as_str() == k));
    }
    if files.is_empty() {
        return Err(DataError::Invalid(format!(
            "no <lang>.json files in {}",
            dir.display()
        )));
    }
    read_lareqa_files(&files, opts)
}

/// Reads the given files (language code → path).
pub fn read_lareqa_files(
    files: &BTreeMap<String, PathBuf>,
    opts: &LoadOptions,
) -> Result<LareqaData> {
    let mut data = LareqaData {
        langs: Vec::new(),
        candidates: Vec::new(),
        contexts: Vec::new(),
        questions: Vec::new(),
        qids: Vec::new(),
        warnings: Vec::new(),
        files: files.clone(),
        excluded_questions: 0,
    };
    let mut qid_index: HashMap<String, usize> = HashMap::new();
    for (code, path) in files {
        let lang = Lang::parse(code).map_err(|e| DataError::Invalid(format!("{code}: {e}")))?;
        data.langs.push(lang);
        let li = data.langs.len() - 1;
        read_file(path, li, opts, &mut data, &mut qid_index)?;
    }
    // a question none of whose answers could be placed in a sentence (of
    // any language) has no correct candidate: AP is undefined, so it is
    // left out, with a warning, rather than scored 0 or failing the run
    let answers = data.answers_by_qid();
    let before = data.questions.len();
    let mut dropped = Vec::new();
    data.questions.retain(|q| {
        let keep = !answers[q.qid].is_empty();
        if !keep {
            dropped.push(format!("{} ({})", data.qids[q.qid], data.langs[q.lang]));
        }
        keep
    });
    if !dropped.is_empty() {
        data.warnings.push(format!(
            "{} of {before} questions have no correct candidate in any language and are not evaluated: {}",
            dropped.len(),
            dropped.join(", ")
        ));
    }
    data.excluded_questions = dropped.len();
    if data.questions.is_empty() {
        return Err(DataError::Invalid(
            "no question has a correct candidate: nothing to evaluate".into(),
        ));
    }
    Ok(data)
}

fn read_file(
    path: &Path,
    li: usize,
    opts: &LoadOptions,
    data: &mut LareqaData,
    qid_index: &mut HashMap<String, usize>,
) -> Result<()> {
    let root = read_json(path)?;
    let at = JsonAt { path };
    let articles = at.array(&root, "data", "")?;
    let limit = opts.limit_articles.unwrap_or(usize::MAX);
    let mut seen_ids: HashSet<String> = HashSet::new();
    for (ai, article) in articles.iter().enumerate().take(limit) {
        let ap = format!("data[{ai}]");
        for (pi, para) in at.array(article, "paragraphs", &ap)?.iter().enumerate() {
            let pp = format!("{ap}.paragraphs[{pi}]");
            let context = at.string(para, "context", &pp)?;
            let chars: Vec<(usize, char)> = context.char_indices().collect();
            let n_chars = chars.len();
            let byte_at = |c: usize| chars.get(c).map_or(context.len(), |&(b, _)| b);
            let sentences = at.array(para, "sentences", &pp)?;
            let breaks = at.array(para, "sentence_breaks", &pp)?;
            if sentences.len() != breaks.len() {
                return Err(at.err(
                    &pp,
                    format!(
                        "{} sentences but {} sentence_breaks",
                        sentences.len(),
                        breaks.len()
                    ),
                ));
            }
            if sentences.is_empty() {
                return Err(at.err(&format!("{pp}.sentences"), "no sentences"));
            }
            let mut spans = Vec::with_capacity(breaks.len());
            let mut last_start = 0;
            for (si, b) in breaks.iter().enumerate() {
                let bp = format!("{pp}.sentence_breaks[{si}]");
                let pair = b
                    .as_array()
                    .filter(|a| a.len() == 2)
                    .ok_or_else(|| at.err(&bp, "expected [start, end]"))?;
                let (s, e) = (at.as_uint(&pair[0], &bp)?, at.as_uint(&pair[1], &bp)?);
                if s > e || e > n_chars {
                    return Err(at.err(
                        &bp,
                        format!("span [{s}, {e}] is not within the context ({n_chars} characters)"),
                    ));
                }
                if s < last_start {
                    return Err(at.err(&bp, "sentence spans are not in order"));
                }
                last_start = s;
                spans.push((s, e));
            }
            let context_idx = data.contexts.len();
            data.contexts.push(context.to_string());
            let first_cand = data.candidates.len();
            for (si, s) in sentences.iter().enumerate() {
                let sp = format!("{pp}.sentences[{si}]");
                let text = s.as_str().ok_or_else(|| at.err(&sp, "expected a string"))?;
                if text.trim().is_empty() {
                    return Err(at.err(&sp, "empty sentence"));
                }
                let (s0, e0) = spans[si];
                if &context[byte_at(s0)..byte_at(e0)] != text {
                    data.warnings.push(format!(
                        "{}: {sp} differs from the context at its sentence_breaks span; the sentence text is used",
                        path.display()
                    ));
                }
                data.candidates.push(Candidate {
                    lang: li,
                    sentence: text.to_string(),
                    context: context_idx,
                    qids: Vec::new(),
                });
            }
            for (qi, qa) in at.array(para, "qas", &pp)?.iter().enumerate() {
                let qp = format!("{pp}.qas[{qi}]");
                let id = at.string(qa, "id", &qp)?;
                if id.trim().is_empty() {
                    return Err(at.err(&format!("{qp}.id"), "empty id"));
                }
                if !seen_ids.insert(id.to_string()) {
                    return Err(at.err(
                        &format!("{qp}.id"),
                        format!("question id '{id}' occurs twice in this file"),
                    ));
                }
                let question = at.string(qa, "question", &qp)?;
                if question.trim().is_empty() {
                    return Err(at.err(&format!("{qp}.question"), "empty question"));
                }
                let answers = at.array(qa, "answers", &qp)?;
                if answers.is_empty() {
                    return Err(at.err(&format!("{qp}.answers"), "no answers"));
                }
                let next = qid_index.len();
                let qid = *qid_index.entry(id.to_string()).or_insert(next);
                if qid == data.qids.len() {
                    data.qids.push(id.to_string());
                }
                for (ni, ans) in answers.iter().enumerate() {
                    let np = format!("{qp}.answers[{ni}]");
                    let start_v = ans
                        .get("answer_start")
                        .ok_or_else(|| at.err(&np, "missing field 'answer_start'"))?;
                    let a = at.as_uint(start_v, &format!("{np}.answer_start"))?;
                    let text = at.string(ans, "text", &np)?;
                    if a >= n_chars {
                        return Err(at.err(
                            &format!("{np}.answer_start"),
                            format!("{a} is past the end of the context ({n_chars} characters)"),
                        ));
                    }
                    let got = &context[byte_at(a)..];
                    if !got.starts_with(text) {
                        data.warnings.push(format!(
                            "{}: {np}: the context at answer_start does not read '{text}'",
                            path.display()
                        ));
                    }
                    match answer_sentence(&spans, a, opts.rule) {
                        Some(si) => {
                            let cand = &mut data.candidates[first_cand + si];
                            if !cand.qids.contains(&qid) {
                                cand.qids.push(qid);
                            }
                        }
                        None => data.warnings.push(format!(
                            "{}: {np}.answer_start {a} lies in no sentence (after the last sentence_breaks span): no correct candidate in this language",
                            path.display()
                        )),
                    }
                }
                data.questions.push(LareqaQuestion {
                    qid,
                    lang: li,
                    text: question.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// The index of the sentence that holds an answer starting at character `a`.
pub fn answer_sentence(
    spans: &[(usize, usize)],
    a: usize,
    rule: AnswerSentenceRule,
) -> Option<usize> {
    match rule {
        AnswerSentenceRule::Released => spans.iter().position(|&(s, e)| s <= a && a <= e),
        AnswerSentenceRule::Contains => spans
            .iter()
            .position(|&(s, e)| s <= a && a < e)
            .or_else(|| spans.iter().position(|&(s, _)| s > a)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn answer_sentence_rules() {
        // touching spans as in the Chinese file
        let spans = [(0, 10), (10, 20), (21, 30)];
        assert_eq!(
            answer_sentence(&spans, 10, AnswerSentenceRule::Contains),
            Some(1)
        );
        assert_eq!(
            answer_sentence(&spans, 10, AnswerSentenceRule::Released),
            Some(0)
        );
        // the gap at 20: the next sentence / the one ending there
        assert_eq!(
            answer_sentence(&spans, 20, AnswerSentenceRule::Contains),
            Some(2)
        );
        assert_eq!(
            answer_sentence(&spans, 20, AnswerSentenceRule::Released),
            Some(1)
        );
        assert_eq!(
            answer_sentence(&spans, 5, AnswerSentenceRule::Contains),
            Some(0)
        );
        assert_eq!(
            answer_sentence(&spans, 31, AnswerSentenceRule::Contains),
            None
        );
        assert_eq!(
            answer_sentence(&spans, 30, AnswerSentenceRule::Released),
            Some(2)
        );
    }

    #[test]
    fn file_names_give_languages() {
        assert_eq!(lang_of_file(Path::new("x/de.json")).unwrap().as_str(), "de");
        assert_eq!(
            lang_of_file(Path::new("x/mlqa-r.zh.json"))
                .unwrap()
                .as_str(),
            "zh"
        );
        assert_eq!(
            lang_of_file(Path::new("x/dev-vi.json")).unwrap().as_str(),
            "vi"
        );
        assert!(lang_of_file(Path::new("x/train.json")).is_none());
    }

    fn write(dir: &Path, name: &str, v: &Value) {
        std::fs::write(dir.join(name), serde_json::to_vec(v).unwrap()).unwrap();
    }

    fn para(id: &str, q: &str) -> Value {
        serde_json::json!({"context": "Ab cd. Ef gh.",
            "sentences": ["Ab cd.", "Ef gh."], "sentence_breaks": [[0, 6], [7, 13]],
            "qas": [{"id": id, "question": q, "answers": [{"text": "gh", "answer_start": 10}]}]})
    }

    #[test]
    fn reads_parallel_files_and_links_translations() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "en.json",
            &serde_json::json!({"data": [{"paragraphs": [para("q1", "What?")]}]}),
        );
        write(
            dir.path(),
            "de.json",
            &serde_json::json!({"data": [{"paragraphs": [para("q1", "Was?")]}]}),
        );
        let d = read_lareqa_dir(dir.path(), &LoadOptions::default()).unwrap();
        assert_eq!(
            d.langs.iter().map(|l| l.as_str()).collect::<Vec<_>>(),
            ["de", "en"]
        );
        assert_eq!(d.candidates.len(), 4);
        assert_eq!(d.questions.len(), 2);
        assert_eq!(d.qids, ["q1"]);
        let ans = d.answers_by_qid();
        assert_eq!(ans[0], vec![1, 3]);
        assert!(d.warnings.is_empty());
    }

    #[test]
    fn answers_outside_every_sentence_are_warned_and_such_questions_left_out() {
        let dir = tempfile::tempdir().unwrap();
        // en: q1's answer lies after the last sentence span (13 chars, spans end at 6)
        let mut en = para("q1", "What?");
        en["sentences"] = serde_json::json!(["Ab cd."]);
        en["sentence_breaks"] = serde_json::json!([[0, 6]]);
        en["qas"].as_array_mut().unwrap().push(serde_json::json!({
            "id": "q9", "question": "Lost?", "answers": [{"text": "gh", "answer_start": 10}]}));
        write(
            dir.path(),
            "en.json",
            &serde_json::json!({"data": [{"paragraphs": [en]}]}),
        );
        write(
            dir.path(),
            "de.json",
            &serde_json::json!({"data": [{"paragraphs": [para("q1", "Was?")]}]}),
        );
        let d = read_lareqa_dir(dir.path(), &LoadOptions::default()).unwrap();
        // q1 keeps its German target (in both languages); q9 has none: left out
        assert_eq!(d.excluded_questions, 1);
        assert_eq!(d.questions.len(), 2);
        assert!(d.questions.iter().all(|q| d.qids[q.qid] == "q1"));
        assert!(d.warnings.iter().any(|w| w.contains("lies in no sentence")));
        assert!(d.warnings.iter().any(|w| w.contains("q9 (en)")));
    }

    #[test]
    fn errors_name_file_and_json_path() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = para("q1", "What?");
        p["sentence_breaks"] = serde_json::json!([[0, 6], [7, 99]]);
        write(
            dir.path(),
            "en.json",
            &serde_json::json!({"data": [{"paragraphs": [p]}]}),
        );
        let e = read_lareqa_dir(dir.path(), &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("en.json") && e.contains("data[0].paragraphs[0].sentence_breaks[1]"),
            "{e}"
        );

        let mut p = para("q1", "What?");
        p["qas"][0]["answers"][0]["answer_start"] = serde_json::json!("10");
        write(
            dir.path(),
            "en.json",
            &serde_json::json!({"data": [{"paragraphs": [p]}]}),
        );
        let e = read_lareqa_dir(dir.path(), &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("qas[0].answers[0].answer_start") && e.contains("integer"),
            "{e}"
        );

        let p = para("q1", "What?");
        write(
            dir.path(),
            "en.json",
            &serde_json::json!({"data": [{"paragraphs": [p.clone(), p]}]}),
        );
        let e = read_lareqa_dir(dir.path(), &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("occurs twice"), "{e}");

        std::fs::write(dir.path().join("en.json"), b"{\"data\": [").unwrap();
        let e = read_lareqa_dir(dir.path(), &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("en.json") && e.contains("line 1"), "{e}");

        std::fs::write(dir.path().join("train.json"), b"{}").unwrap();
        let e = read_lareqa_dir(dir.path(), &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("train.json") && e.contains("<lang>.json"), "{e}");
    }
}
