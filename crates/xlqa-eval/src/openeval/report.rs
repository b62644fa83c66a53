//! Running the evaluation over ranked lists and reporting it.

use super::matching::{is_yes_no, Matcher, TextWords};
use super::metrics::{budget_cut, hit_at, ir_scores};
use super::trec::Judgments;
use super::OpenEvalError;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use xlqa_core::{Passage, StageTimings};
use xlqa_data::gold::GoldItem;
use xlqa_search::{Engine, RetrieveOptions};

/// What to compute.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// The k of Recall@k, R^L@k and R^multi@k.
    pub ks: Vec<usize>,
    /// Token budgets of R@kt (XOR-TyDi: 2,000 and 5,000).
    pub budgets: Vec<usize>,
    /// Cut-off of nDCG and MRR.
    pub cut: usize,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            ks: vec![1, 5, 20, 100],
            budgets: vec![2000, 5000],
            cut: 10,
        }
    }
}

/// The inputs of one evaluation.
pub struct EvalInput<'a> {
    pub items: &'a [GoldItem],
    /// The index's passages, in row order.
    pub passages: &'a [&'a Passage],
    /// TREC topic id → ranked passage rows.
    pub rankings: &'a HashMap<String, Vec<usize>>,
    /// TREC topic id → judgments (absent: no qrels given).
    pub judgments: Option<&'a HashMap<String, Judgments>>,
}

/// One metric over a group of questions.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Cell {
    /// Questions for which the metric is defined.
    pub n: usize,
    pub mean: f64,
}

/// The scores of one question (a line of `per_question.jsonl`).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct QuestionScores {
    pub id: String,
    pub lang: String,
    pub qid: String,
    pub metrics: BTreeMap<String, f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct OpenEvalReport {
    /// How the evaluation was set up (index, gold, retrieval…), filled by
    /// the caller.
    pub setup: BTreeMap<String, String>,
    pub questions: usize,
    /// Language → questions evaluated (metrics may leave some out, see
    /// `excluded`).
    pub questions_per_lang: BTreeMap<String, usize>,
    pub passages: usize,
    /// Metric names, in report order.
    pub metrics: Vec<String>,
    /// Language → metric → cell.
    pub per_lang: BTreeMap<String, BTreeMap<String, Cell>>,
    /// Unweighted mean over the languages where the metric is defined.
    pub macro_avg: BTreeMap<String, f64>,
    /// Mean over all questions where the metric is defined.
    pub micro: BTreeMap<String, Cell>,
    /// Why questions were left out of some metrics → count.
    pub excluded: BTreeMap<String, usize>,
    /// Questions with no ranked list (scored as retrieving nothing).
    pub questions_without_ranking: usize,
    /// Budget metric → questions whose ranked passages hold fewer tokens
    /// than the budget.
    pub short_of_budget: BTreeMap<String, usize>,
    pub notes: Vec<String>,
}

pub fn budget_name(b: usize) -> String {
    if b.is_multiple_of(1000) {
        format!("R@{}kt", b / 1000)
    } else {
        format!("R@{b}t")
    }
}

/// Retrieves the ranked passages of every question with the engine, in the
/// question's language (as `xlqa ask --lang` does). Dense embeddings are the
/// raw encoder vectors given in `embeddings` (item order, e.g. from the
/// embedding cache), else computed in batches.
///
/// `exclude_own_lang`: each question's own language is also removed from the
/// pool (inside each retriever), the cross-lingual setting.
pub fn retrieve_all(
    engine: &Engine,
    items: &[GoldItem],
    opts: &RetrieveOptions,
    exclude_own_lang: bool,
    embeddings: Option<&[Vec<f32>]>,
    progress: &dyn Fn(usize, usize),
) -> Result<HashMap<String, Vec<usize>>, OpenEvalError> {
    if let Some(e) = embeddings {
        if e.len() != items.len() {
            return Err(OpenEvalError::Mismatch(format!(
                "internal: {} question embeddings for {} questions",
                e.len(),
                items.len()
            )));
        }
    }
    let mut out = HashMap::new();
    let batch = 64;
    let mut done = 0;
    for (ci, chunk) in items.chunks(batch).enumerate() {
        let embs: Vec<Option<Vec<f32>>> = if !engine.retrieval_needs_vector(opts) {
            vec![None; chunk.len()]
        } else if let Some(e) = embeddings {
            e[ci * batch..ci * batch + chunk.len()]
                .iter()
                .cloned()
                .map(Some)
                .collect()
        } else {
            let texts: Vec<&str> = chunk.iter().map(|i| i.question.as_str()).collect();
            engine
                .corpus()
                .embed_questions(&texts)?
                .into_iter()
                .map(Some)
                .collect()
        };
        for (item, emb) in chunk.iter().zip(&embs) {
            let mut t = StageTimings::default();
            let own;
            let opts = if exclude_own_lang && !opts.exclude_langs.contains(&item.lang) {
                let mut o = opts.clone();
                o.exclude_langs.push(item.lang.clone());
                own = o;
                &own
            } else {
                opts
            };
            let (hits, _) =
                engine.retrieve(&item.question, &item.lang, emb.as_deref(), opts, &mut t)?;
            out.insert(
                item.qid.clone(),
                hits.iter().map(|h| h.passage as usize).collect(),
            );
            done += 1;
        }
        progress(done, items.len());
    }
    Ok(out)
}

fn keep_answers<'a>(a: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    a.into_iter().filter(|s| !is_yes_no(s)).collect()
}

/// Scores every question and aggregates per language.
pub fn evaluate(
    input: &EvalInput<'_>,
    opts: &EvalOptions,
) -> Result<(OpenEvalReport, Vec<QuestionScores>), OpenEvalError> {
    if opts.ks.is_empty() || opts.ks.contains(&0) {
        return Err(OpenEvalError::Mismatch(
            "the k list must hold positive numbers".into(),
        ));
    }
    let with_ir = input.judgments.is_some();
    let with_answers = input.items.iter().any(|i| !i.parallel.is_empty());
    let mut metrics = Vec::new();
    let mut notes = Vec::new();
    if with_ir {
        metrics.extend(opts.ks.iter().map(|k| format!("Recall@{k}")));
        metrics.push(format!("nDCG@{}", opts.cut));
        metrics.push(format!("MRR@{}", opts.cut));
    } else {
        notes.push("no qrels given: Recall@k, nDCG and MRR are not computed".into());
    }
    if with_answers {
        metrics.extend(opts.ks.iter().map(|k| format!("R^L@{k}")));
        metrics.extend(opts.ks.iter().map(|k| format!("R^multi@{k}")));
        metrics.extend(opts.budgets.iter().map(|b| budget_name(*b)));
    } else {
        notes.push(
            "the gold set has no answers: answer recall (R^L, R^multi, R@kt) is not computed"
                .into(),
        );
    }
    let max_k = opts.ks.iter().copied().max().unwrap_or(0);
    let empty = Vec::new();
    let mut words: HashMap<usize, Rc<TextWords>> = HashMap::new();
    let mut matcher = Matcher::default();
    let mut excluded: BTreeMap<String, usize> = BTreeMap::new();
    let mut short: BTreeMap<String, usize> = BTreeMap::new();
    let mut without_ranking = 0;
    let mut per_question = Vec::with_capacity(input.items.len());
    for item in input.items {
        let ranking = match input.rankings.get(&item.qid) {
            Some(r) => r,
            None => {
                without_ranking += 1;
                &empty
            }
        };
        for row in ranking {
            if input.passages.get(*row).is_none() {
                return Err(OpenEvalError::Mismatch(format!(
                    "question {}: ranked passage row {row} is beyond the index's {} passages",
                    item.qid,
                    input.passages.len()
                )));
            }
        }
        let mut m: BTreeMap<String, f64> = BTreeMap::new();
        if let Some(all) = input.judgments {
            match all.get(&item.qid) {
                Some(j) if !j.relevant_grades.is_empty() => {
                    let judged: Vec<Option<(&str, i64)>> = ranking
                        .iter()
                        .map(|r| j.judge(input.passages[*r]))
                        .collect();
                    if let Some(s) = ir_scores(&judged, &j.relevant_grades, &opts.ks, opts.cut) {
                        for (k, v) in opts.ks.iter().zip(&s.recall) {
                            m.insert(format!("Recall@{k}"), *v);
                        }
                        m.insert(format!("nDCG@{}", opts.cut), s.ndcg);
                        m.insert(format!("MRR@{}", opts.cut), s.mrr);
                    }
                }
                Some(_) => {
                    *excluded
                        .entry("Recall/nDCG/MRR: no relevant judgment (rel > 0)".into())
                        .or_default() += 1
                }
                None => {
                    *excluded
                        .entry("Recall/nDCG/MRR: topic not in the qrels".into())
                        .or_default() += 1
                }
            }
        }
        if with_answers {
            let mut text_of = |row: usize, matcher: &mut Matcher| {
                words
                    .entry(row)
                    .or_insert_with(|| {
                        let p = input.passages[row];
                        Rc::new(matcher.text(&p.text, &p.lang))
                    })
                    .clone()
            };
            // R^L
            let own = keep_answers(item.answers_in(&item.lang));
            if own.is_empty() {
                *excluded
                    .entry("R^L: no answer in the question's language".into())
                    .or_default() += 1;
            } else {
                let mut first = None;
                for (r, row) in ranking.iter().take(max_k).enumerate() {
                    let p = input.passages[*row];
                    if p.lang.primary() != item.lang.primary() {
                        continue;
                    }
                    let tw = text_of(*row, &mut matcher);
                    if matcher.any_within(&tw, &p.lang, &own, usize::MAX) {
                        first = Some(r);
                        break;
                    }
                }
                for k in &opts.ks {
                    m.insert(format!("R^L@{k}"), hit_at(first, *k));
                }
            }
            // R^multi
            let any = item.parallel.values().flatten().any(|a| !is_yes_no(a));
            if !any {
                *excluded
                    .entry("R^multi: no answer in any language".into())
                    .or_default() += 1;
            } else {
                let mut first = None;
                for (r, row) in ranking.iter().take(max_k).enumerate() {
                    let p = input.passages[*row];
                    let ans = keep_answers(item.answers_in(&p.lang));
                    if ans.is_empty() {
                        continue;
                    }
                    let tw = text_of(*row, &mut matcher);
                    if matcher.any_within(&tw, &p.lang, &ans, usize::MAX) {
                        first = Some(r);
                        break;
                    }
                }
                for k in &opts.ks {
                    m.insert(format!("R^multi@{k}"), hit_at(first, *k));
                }
            }
            // R@kt
            let gold = keep_answers(item.answers.iter().map(|s| s.as_str()));
            if gold.is_empty() {
                *excluded
                    .entry("R@kt: no answer (yes/no answers are skipped)".into())
                    .or_default() += 1;
            } else {
                let max_b = opts.budgets.iter().copied().max().unwrap_or(0);
                // the texts needed for the largest budget
                let mut texts = Vec::new();
                let mut total = 0;
                for row in ranking {
                    if total >= max_b {
                        break;
                    }
                    let tw = text_of(*row, &mut matcher);
                    total += tw.budget_tokens();
                    texts.push((*row, tw));
                }
                let counts: Vec<usize> = texts.iter().map(|(_, t)| t.budget_tokens()).collect();
                for b in &opts.budgets {
                    let name = budget_name(*b);
                    if total < *b {
                        *short.entry(name.clone()).or_default() += 1;
                    }
                    let kept = budget_cut(&counts, *b);
                    let hit = kept.iter().zip(&texts).any(|(t, (row, tw))| {
                        let p = input.passages[*row];
                        matcher.any_within(tw, &p.lang, &gold, tw.words_within(*t))
                    });
                    m.insert(name, if hit { 1.0 } else { 0.0 });
                }
            }
        }
        per_question.push(QuestionScores {
            id: item.id.clone(),
            lang: item.label.clone(),
            qid: item.qid.clone(),
            metrics: m,
        });
    }
    if without_ranking > 0 {
        notes.push(format!(
            "{without_ranking} questions have no ranked list (scored as retrieving nothing)"
        ));
    }
    // aggregation
    let mut per_lang: BTreeMap<String, BTreeMap<String, Cell>> = BTreeMap::new();
    let mut micro: BTreeMap<String, Cell> = BTreeMap::new();
    let mut questions_per_lang: BTreeMap<String, usize> = BTreeMap::new();
    for q in &per_question {
        *questions_per_lang.entry(q.lang.clone()).or_default() += 1;
        let row = per_lang.entry(q.lang.clone()).or_default();
        for (name, v) in &q.metrics {
            for cell in [
                row.entry(name.clone()).or_default(),
                micro.entry(name.clone()).or_default(),
            ] {
                cell.n += 1;
                cell.mean += v;
            }
        }
    }
    for cell in per_lang
        .values_mut()
        .flat_map(|r| r.values_mut())
        .chain(micro.values_mut())
    {
        cell.mean /= cell.n as f64;
    }
    let mut macro_avg = BTreeMap::new();
    for name in &metrics {
        let vals: Vec<f64> = per_lang
            .values()
            .filter_map(|r| r.get(name).map(|c| c.mean))
            .collect();
        if !vals.is_empty() {
            macro_avg.insert(name.clone(), vals.iter().sum::<f64>() / vals.len() as f64);
        }
    }
    let report = OpenEvalReport {
        setup: BTreeMap::new(),
        questions: input.items.len(),
        questions_per_lang,
        passages: input.passages.len(),
        metrics,
        per_lang,
        macro_avg,
        micro,
        excluded,
        questions_without_ranking: without_ranking,
        short_of_budget: short,
        notes,
    };
    Ok((report, per_question))
}

impl OpenEvalReport {
    pub fn to_markdown(&self) -> String {
        let mut s = String::from("## Open-retrieval evaluation\n\n");
        for (k, v) in &self.setup {
            s += &format!("- {k}: {v}\n");
        }
        s += &format!(
            "- {} questions, {} passages in the index\n\n",
            self.questions, self.passages
        );
        if self.metrics.is_empty() {
            s += "No metric could be computed.\n";
        } else {
            s += "| lang | n |";
            for m in &self.metrics {
                s += &format!(" {m} |");
            }
            s += "\n|---|---|";
            for _ in &self.metrics {
                s += "---|";
            }
            s += "\n";
            let cell = |c: Option<&Cell>| c.map_or("–".to_string(), |c| format!("{:.4}", c.mean));
            let mut counts_differ = false;
            for (lang, n) in &self.questions_per_lang {
                let row = self.per_lang.get(lang);
                let n = *n;
                s += &format!("| {lang} | {n} |");
                for m in &self.metrics {
                    let c = row.and_then(|r| r.get(m));
                    counts_differ |= c.is_some_and(|c| c.n != n);
                    s += &format!(" {} |", cell(c));
                }
                s += "\n";
            }
            s += &format!("| **macro** | {} |", self.questions_per_lang.len());
            for m in &self.metrics {
                s += &format!(
                    " {} |",
                    self.macro_avg
                        .get(m)
                        .map_or("–".to_string(), |v| format!("{v:.4}"))
                );
            }
            s += "\n";
            s += &format!("| **micro** | {} |", self.questions);
            for m in &self.metrics {
                s += &format!(" {} |", cell(self.micro.get(m)));
            }
            s += "\n\n";
            if counts_differ {
                s += "Questions counted per metric (those where it is defined):\n\n| metric | n |\n|---|---|\n";
                for m in &self.metrics {
                    if let Some(c) = self.micro.get(m) {
                        s += &format!("| {m} | {} |\n", c.n);
                    }
                }
                s += "\n";
            }
        }
        for (why, n) in &self.excluded {
            s += &format!("- excluded: {why}: {n} questions\n");
        }
        for (b, n) in &self.short_of_budget {
            s += &format!(
                "- {b}: for {n} questions the ranked passages hold fewer tokens than the budget (all of them were used; retrieve more with --depth)\n"
            );
        }
        for note in &self.notes {
            s += &format!("- note: {note}\n");
        }
        s
    }
}
