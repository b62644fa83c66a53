//! Reading comprehension with the gold paragraph given (`xlqa eval reader`):
//! XQuAD per language, the XQuAD cross-lingual matrix (question in X,
//! paragraph in Y, answer scored against Y's gold) and TyDi GoldP dev.
//!
//! Scores follow the SQuAD/MLQA conventions: answers normalized with the
//! rules of the answer's language ([`AnswerNormalizer`]; Chinese as one
//! token per character, as XTREME), max over the gold answers, EM and token
//! F1 in percent, macro average over languages.

use std::collections::{BTreeMap, HashMap};

use xlqa_core::Lang;

use crate::bootstrap::PerQuestion;
use xlqa_data::normalize::{exact_match, token_f1, AnswerNormalizer, ZhTokens};
use xlqa_data::squad::QaExample;

/// One question to read: the question in one language, the paragraph (and
/// gold answers) in another or the same.
#[derive(Debug, Clone)]
pub struct ReadingItem {
    pub id: String,
    pub q_lang: Lang,
    pub c_lang: Lang,
    pub question: String,
    pub context: String,
    pub answers: Vec<String>,
}

impl ReadingItem {
    /// `xx` for same-language items, `xx>yy` (question > paragraph) otherwise.
    pub fn pair_label(&self) -> String {
        if self.q_lang == self.c_lang {
            self.q_lang.to_string()
        } else {
            format!("{}>{}", self.q_lang, self.c_lang)
        }
    }
}

/// Same-language items, the first `limit` per language (all when `None`).
pub fn monolingual_items(examples: &[QaExample], limit: Option<usize>) -> Vec<ReadingItem> {
    let mut seen: HashMap<&Lang, usize> = HashMap::new();
    let mut out = Vec::new();
    for e in examples {
        let n = seen.entry(&e.lang).or_default();
        if limit.is_some_and(|l| *n >= l) {
            continue;
        }
        *n += 1;
        out.push(ReadingItem {
            id: e.id.clone(),
            q_lang: e.lang.clone(),
            c_lang: e.lang.clone(),
            question: e.question.clone(),
            context: e.context.clone(),
            answers: e.answers.clone(),
        });
    }
    out
}

/// The cross-lingual XQuAD matrix: for every ordered pair of languages
/// (X ≠ Y), the first `limit` question ids (in file order) with the question
/// of X and the paragraph and answers of Y. XQuAD ids are shared across
/// languages, which is what pairs them.
pub fn cross_items(examples: &[QaExample], limit: Option<usize>) -> Vec<ReadingItem> {
    let mut by_lang: BTreeMap<&Lang, Vec<&QaExample>> = BTreeMap::new();
    for e in examples {
        by_lang.entry(&e.lang).or_default().push(e);
    }
    let index: BTreeMap<&Lang, HashMap<&str, &QaExample>> = by_lang
        .iter()
        .map(|(l, v)| (*l, v.iter().map(|e| (e.id.as_str(), *e)).collect()))
        .collect();
    let mut out = Vec::new();
    for (x, qs) in &by_lang {
        for (y, cs) in &index {
            if x == y {
                continue;
            }
            let mut n = 0;
            for q in qs {
                if limit.is_some_and(|l| n >= l) {
                    break;
                }
                let Some(c) = cs.get(q.id.as_str()) else {
                    continue;
                };
                n += 1;
                out.push(ReadingItem {
                    id: q.id.clone(),
                    q_lang: (*x).clone(),
                    c_lang: (*y).clone(),
                    question: q.question.clone(),
                    context: c.context.clone(),
                    answers: c.answers.clone(),
                });
            }
        }
    }
    out
}

/// EM and F1 (fractions) of each prediction against its item's answers.
pub fn score(items: &[ReadingItem], preds: &[String]) -> Vec<(f64, f64)> {
    let mut norms: HashMap<Lang, AnswerNormalizer> = HashMap::new();
    items
        .iter()
        .zip(preds)
        .map(|(it, p)| {
            let n = norms
                .entry(it.c_lang.clone())
                .or_insert_with(|| AnswerNormalizer::new(&it.c_lang, ZhTokens::Char));
            let pt = n.tokens(p);
            it.answers.iter().fold((0.0f64, 0.0f64), |(em, f1), g| {
                let gt = n.tokens(g);
                (em.max(exact_match(&pt, &gt)), f1.max(token_f1(&pt, &gt)))
            })
        })
        .collect()
}

/// Scores of one group, in percent.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GroupScore {
    pub label: String,
    pub questions: usize,
    pub em: f64,
    pub f1: f64,
}

/// Mean EM/F1 per pair label (in label order) and their unweighted mean.
pub fn by_label(items: &[ReadingItem], scores: &[(f64, f64)]) -> (Vec<GroupScore>, GroupScore) {
    let mut acc: BTreeMap<String, (usize, f64, f64)> = BTreeMap::new();
    for (it, (em, f1)) in items.iter().zip(scores) {
        let a = acc.entry(it.pair_label()).or_default();
        a.0 += 1;
        a.1 += em;
        a.2 += f1;
    }
    let rows: Vec<GroupScore> = acc
        .into_iter()
        .map(|(label, (n, em, f1))| GroupScore {
            label,
            questions: n,
            em: 100.0 * em / n.max(1) as f64,
            f1: 100.0 * f1 / n.max(1) as f64,
        })
        .collect();
    let k = rows.len().max(1) as f64;
    let avg = GroupScore {
        label: "macro".into(),
        questions: rows.iter().map(|r| r.questions).sum(),
        em: rows.iter().map(|r| r.em).sum::<f64>() / k,
        f1: rows.iter().map(|r| r.f1).sum::<f64>() / k,
    };
    (rows, avg)
}

/// Per-question rows for `xlqa eval compare` (metrics `em`, `f1` as fractions).
pub fn per_question(items: &[ReadingItem], scores: &[(f64, f64)]) -> Vec<PerQuestion> {
    items
        .iter()
        .zip(scores)
        .map(|(it, (em, f1))| em_f1_row(&it.id, &it.pair_label(), *em, *f1))
        .collect()
}

/// One question's EM and F1 as a [`PerQuestion`] row (for `xlqa eval compare`).
pub fn em_f1_row(id: &str, lang: &str, em: f64, f1: f64) -> PerQuestion {
    PerQuestion {
        id: id.to_string(),
        lang: lang.to_string(),
        metrics: [("em".to_string(), em), ("f1".to_string(), f1)]
            .into_iter()
            .collect(),
    }
}

/// F1 matrix (rows: question language, columns: paragraph language) as
/// markdown, from same-language and cross-language scores.
pub fn matrix_markdown(rows: &[GroupScore]) -> String {
    let mut langs: Vec<String> = Vec::new();
    let mut cell: HashMap<(String, String), f64> = HashMap::new();
    for r in rows {
        let (x, y) = match r.label.split_once('>') {
            Some((x, y)) => (x.to_string(), y.to_string()),
            None => (r.label.clone(), r.label.clone()),
        };
        for l in [&x, &y] {
            if !langs.contains(l) {
                langs.push(l.clone());
            }
        }
        cell.insert((x, y), r.f1);
    }
    langs.sort();
    let mut s = String::from("| Q \\ C |");
    for l in &langs {
        s.push_str(&format!(" {l} |"));
    }
    s.push_str(" avg |\n|---|");
    for _ in 0..=langs.len() {
        s.push_str("---|");
    }
    s.push('\n');
    let mut col_sum = vec![(0.0, 0usize); langs.len()];
    for x in &langs {
        s.push_str(&format!("| **{x}** |"));
        let (mut sum, mut n) = (0.0, 0);
        for (j, y) in langs.iter().enumerate() {
            match cell.get(&(x.clone(), y.clone())) {
                Some(v) => {
                    s.push_str(&format!(" {v:.1} |"));
                    sum += v;
                    n += 1;
                    col_sum[j].0 += v;
                    col_sum[j].1 += 1;
                }
                None => s.push_str(" – |"),
            }
        }
        s.push_str(&format!(" {:.1} |\n", sum / n.max(1) as f64));
    }
    s.push_str("| **avg** |");
    for (sum, n) in col_sum {
        s.push_str(&format!(" {:.1} |", sum / n.max(1) as f64));
    }
    s.push_str(" |\n");
    s
}

/// One question answered from the open pool.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OpenRow {
    pub id: String,
    pub lang: String,
    pub prediction: String,
    /// Language of the returned answer (`None`: no answer).
    pub answer_lang: Option<String>,
    /// `identical` / `alignment` when the answer was carried into a linked passage.
    pub projected: Option<&'static str>,
    pub em: f64,
    pub f1: f64,
}

/// Answers each question (the first `limit` per language) from the whole
/// index with `ask` (span reader), its own language's passages removed from
/// retrieval when `own_removed`; scored against the gold answer in the
/// question's language.
pub fn read_open(
    engine: &xlqa_search::Engine,
    examples: &[QaExample],
    limit: Option<usize>,
    own_removed: bool,
    base: &xlqa_search::AskOptions,
    progress: &dyn Fn(usize, usize),
) -> Result<Vec<OpenRow>, xlqa_search::SearchError> {
    let items = monolingual_items(examples, limit);
    let mut out = Vec::with_capacity(items.len());
    for (k, it) in items.iter().enumerate() {
        let mut opts = base.clone();
        opts.retrieve.exclude_langs = if own_removed {
            vec![it.q_lang.clone()]
        } else {
            Vec::new()
        };
        let q = xlqa_core::Question {
            id: it.id.clone(),
            question: it.question.clone(),
            lang: Some(it.q_lang.clone()),
        };
        let r = engine.ask(&q, &opts)?;
        let pred = r
            .answer
            .as_ref()
            .map(|a| a.text.clone())
            .unwrap_or_default();
        let (em, f1) = score(std::slice::from_ref(it), std::slice::from_ref(&pred))[0];
        out.push(OpenRow {
            id: it.id.clone(),
            lang: it.q_lang.to_string(),
            prediction: pred,
            answer_lang: r.answer.as_ref().map(|a| a.lang.to_string()),
            projected: r
                .answer
                .as_ref()
                .and_then(|a| a.projected_from.as_ref().map(|p| p.method)),
            em,
            f1,
        });
        progress(k + 1, items.len());
    }
    Ok(out)
}

/// Per-language summary of [`read_open`]: questions, EM, F1 (percent),
/// share of answers in the question's language and share projected.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OpenSummary {
    pub label: String,
    pub questions: usize,
    pub em: f64,
    pub f1: f64,
    pub in_question_lang: f64,
    pub projected: f64,
}

pub fn summarize_open(rows: &[OpenRow]) -> (Vec<OpenSummary>, OpenSummary) {
    let mut acc: BTreeMap<&str, Vec<&OpenRow>> = BTreeMap::new();
    for r in rows {
        acc.entry(r.lang.as_str()).or_default().push(r);
    }
    let sum = |label: &str, rs: &[&OpenRow]| {
        let n = rs.len().max(1) as f64;
        OpenSummary {
            label: label.to_string(),
            questions: rs.len(),
            em: 100.0 * rs.iter().map(|r| r.em).sum::<f64>() / n,
            f1: 100.0 * rs.iter().map(|r| r.f1).sum::<f64>() / n,
            in_question_lang: 100.0
                * rs.iter()
                    .filter(|r| r.answer_lang.as_deref() == Some(r.lang.as_str()))
                    .count() as f64
                / n,
            projected: 100.0 * rs.iter().filter(|r| r.projected.is_some()).count() as f64 / n,
        }
    };
    let per: Vec<OpenSummary> = acc.iter().map(|(l, rs)| sum(l, rs)).collect();
    let k = per.len().max(1) as f64;
    let avg = OpenSummary {
        label: "macro".into(),
        questions: rows.len(),
        em: per.iter().map(|r| r.em).sum::<f64>() / k,
        f1: per.iter().map(|r| r.f1).sum::<f64>() / k,
        in_question_lang: per.iter().map(|r| r.in_question_lang).sum::<f64>() / k,
        projected: per.iter().map(|r| r.projected).sum::<f64>() / k,
    };
    (per, avg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(id: &str, lang: &str, q: &str, c: &str, a: &str) -> QaExample {
        QaExample {
            id: id.into(),
            lang: Lang::parse(lang).unwrap(),
            question: q.into(),
            context: c.into(),
            title: String::new(),
            answers: vec![a.into()],
            answer_starts: vec![0],
        }
    }

    #[test]
    fn cross_items_pair_questions_with_other_languages_paragraphs() {
        let exs = vec![
            ex("1", "en", "q-en-1", "c-en-1", "a-en-1"),
            ex("2", "en", "q-en-2", "c-en-2", "a-en-2"),
            ex("1", "de", "q-de-1", "c-de-1", "a-de-1"),
            ex("2", "de", "q-de-2", "c-de-2", "a-de-2"),
        ];
        let items = cross_items(&exs, Some(1));
        assert_eq!(items.len(), 2);
        let de_en = items.iter().find(|i| i.pair_label() == "de>en").unwrap();
        assert_eq!(de_en.question, "q-de-1");
        assert_eq!(de_en.context, "c-en-1");
        assert_eq!(de_en.answers, vec!["a-en-1".to_string()]);
        assert_eq!(monolingual_items(&exs, Some(1)).len(), 2);
        assert_eq!(monolingual_items(&exs, None).len(), 4);
    }

    #[test]
    fn scores_use_the_paragraph_language_and_max_over_golds() {
        let mut it = monolingual_items(&[ex("1", "en", "q", "c", "the Eiffel Tower")], None);
        it[0].answers.push("Eiffel".into());
        let s = score(&it, &["Eiffel Tower".to_string()]);
        assert_eq!(s[0].0, 1.0); // articles dropped
        let s = score(&it, &["tower".to_string()]);
        assert!((s[0].1 - 2.0 / 3.0).abs() < 1e-9);
        let (rows, avg) = by_label(&it, &s);
        assert_eq!(rows[0].label, "en");
        assert!((avg.f1 - 66.666).abs() < 0.01);
        let md = matrix_markdown(&rows);
        assert!(md.contains("| **en** | 66.7 |"), "{md}");
    }
}
