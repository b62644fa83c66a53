//! `xlqa train calibrate`: fits how the span reader compares answers read
//! from different retrieved passages, on held-out *training* data.
//!
//! The held-out paragraphs of the reader's training data (the same
//! every-N-th-paragraph split the trainer used, so none of them was trained
//! on) form a small multilingual pool. Questions about them are answered
//! open-book: the base encoder retrieves the top `k` paragraphs of the pool,
//! the reader reads each, and every candidate span gets token F1 against
//! the gold answer. A grid search then picks the weights of
//! [`Calibration`] (`span − a·null − b·ln(rank)`) that maximize the macro
//! average over languages of the chosen answer's F1. Evaluation sets are
//! never read.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use serde::Serialize;
use xlqa_core::Lang;
use xlqa_data::normalize::{token_f1, AnswerNormalizer, ZhTokens};
use xlqa_models::span::{Calibration, ReaderMeta, SpanReader};
use xlqa_models::{Encoder, EncoderOptions, ModelHome, Precision, TextKind};

use crate::qa_data::read_qa_sources;
use crate::reader::{fnv, ReaderExample, ReaderTrainError};
use crate::reader_plan::split_by_paragraph;
use crate::reader_run::RunObserver;

/// What to fit on.
#[derive(Debug, Clone)]
pub struct CalibrateJob {
    pub reader_dir: PathBuf,
    pub sources: Vec<PathBuf>,
    /// Questions per language.
    pub per_lang: usize,
    /// Passages read per question.
    pub top: usize,
}

/// One read passage of one question.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    span: f32,
    null: f32,
    rank: usize,
    f1: f64,
}

/// The fit and what it is worth on the held-out questions.
#[derive(Debug, Clone, Serialize)]
pub struct CalibrationReport {
    pub calibration: Calibration,
    pub questions: BTreeMap<String, usize>,
    pub pool_paragraphs: usize,
    /// Macro F1 (%) of the chosen answer: fitted weights, raw span score
    /// only (a = b = 0), the top-ranked passage only, and the best candidate.
    pub f1_fitted: f64,
    pub f1_span_only: f64,
    pub f1_top_passage: f64,
    pub f1_oracle: f64,
    /// Share of questions whose gold paragraph is among the top `k`.
    pub gold_in_top: f64,
    /// A fitted weight is the largest of its grid: the best may lie beyond.
    pub at_grid_edge: bool,
}

const NULL_GRID: [f32; 14] = [
    0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.2, 1.5, 2.0, 2.5, 3.0,
];
const RANK_GRID: [f32; 12] = [
    0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0,
];

/// Fits the calibration and writes it into the reader's `reader.json`.
pub fn run_calibration(
    job: &CalibrateJob,
    home: &ModelHome,
    obs: &dyn RunObserver,
) -> Result<CalibrationReport, ReaderTrainError> {
    let meta_path = job.reader_dir.join("reader.json");
    let file_err = |m: String| ReaderTrainError::File {
        path: meta_path.clone(),
        message: m,
    };
    let text = std::fs::read_to_string(&meta_path).map_err(|e| file_err(e.to_string()))?;
    let mut meta: ReaderMeta = serde_json::from_str(&text).map_err(|e| file_err(e.to_string()))?;
    let every = meta.recipe["held_out_every_paragraph"]
        .as_u64()
        .ok_or_else(|| {
            file_err(
                "the recipe has no held_out_every_paragraph: train the reader with this version"
                    .into(),
            )
        })?;
    let precision: Precision = meta.lower_precision.parse().map_err(file_err)?;
    let opts = EncoderOptions {
        precision,
        ..EncoderOptions::default()
    };
    let reader = SpanReader::load(&job.reader_dir, Encoder::load(home, opts)?, false)?;
    let retriever = Encoder::load(home, opts)?;
    let (examples, _) = read_qa_sources(&job.sources, None)?;
    let (_, dv) = split_by_paragraph(&examples, every);
    let questions = sample_per_lang(&examples, &dv, job.per_lang);
    let pool = distinct_paragraphs(&examples, &dv);
    obs.note(&format!(
        "{} held-out questions over a pool of {} held-out paragraphs",
        questions.len(),
        pool.len()
    ));
    let cands = read_candidates(
        &reader, &retriever, &examples, &questions, &pool, job.top, obs,
    )?;
    let report = fit(&examples, &questions, &pool, &cands);
    meta.calibration = Some(report.calibration);
    let text = serde_json::to_string_pretty(&meta).map_err(|e| file_err(e.to_string()))? + "\n";
    std::fs::write(&meta_path, text).map_err(|e| file_err(e.to_string()))?;
    Ok(report)
}

/// The first `n` held-out questions of each language in a fixed
/// pseudo-random order (by id hash), one per paragraph where possible.
fn sample_per_lang(examples: &[ReaderExample], dv: &[usize], n: usize) -> Vec<usize> {
    let mut order = dv.to_vec();
    order.sort_by_key(|&i| (fnv(&examples[i].id), i));
    let mut taken: HashMap<&str, usize> = HashMap::new();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for &i in &order {
        let e = &examples[i];
        let c = taken.entry(e.question_lang.as_str()).or_default();
        if *c < n && seen.insert(e.context.as_str()) {
            *c += 1;
            out.push(i);
        }
    }
    out
}

/// One example index per distinct held-out paragraph.
fn distinct_paragraphs(examples: &[ReaderExample], dv: &[usize]) -> Vec<usize> {
    let mut seen = std::collections::HashSet::new();
    dv.iter()
        .copied()
        .filter(|&i| seen.insert(examples[i].context.as_str()))
        .collect()
}

/// Top-`k` pool paragraphs of every question (dot product of e5 vectors).
fn retrieve(
    enc: &Encoder,
    examples: &[ReaderExample],
    questions: &[usize],
    pool: &[usize],
    k: usize,
) -> Result<Vec<Vec<usize>>, ReaderTrainError> {
    let texts: Vec<&str> = pool.iter().map(|&i| examples[i].context.as_str()).collect();
    let pv = enc.encode(&texts, TextKind::Passage)?;
    let qs: Vec<&str> = questions
        .iter()
        .map(|&i| examples[i].question.as_str())
        .collect();
    let qv = enc.encode(&qs, TextKind::Query)?;
    Ok(qv
        .iter()
        .map(|q| {
            let mut s: Vec<(f32, usize)> = pv
                .iter()
                .enumerate()
                .map(|(j, p)| (p.iter().zip(q).map(|(a, b)| a * b).sum(), j))
                .collect();
            s.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            s.into_iter().take(k).map(|(_, j)| pool[j]).collect()
        })
        .collect())
}

fn read_candidates(
    reader: &SpanReader,
    retriever: &Encoder,
    examples: &[ReaderExample],
    questions: &[usize],
    pool: &[usize],
    k: usize,
    obs: &dyn RunObserver,
) -> Result<Vec<Vec<(usize, Candidate)>>, ReaderTrainError> {
    let tops = retrieve(retriever, examples, questions, pool, k)?;
    let mut norms: HashMap<String, AnswerNormalizer> = HashMap::new();
    let mut out = Vec::with_capacity(questions.len());
    for (n, (&qi, top)) in questions.iter().zip(&tops).enumerate() {
        let q = &examples[qi];
        let texts: Vec<&str> = top.iter().map(|&j| examples[j].context.as_str()).collect();
        let spans = reader.read(&q.question, &texts)?;
        let lang =
            Lang::parse(&q.passage_lang).map_err(|e| ReaderTrainError::Config(e.to_string()))?;
        let norm = norms
            .entry(q.passage_lang.clone())
            .or_insert_with(|| AnswerNormalizer::new(&lang, ZhTokens::Char));
        let gold = norm.tokens(&q.context[q.answer.0..q.answer.1]);
        let mut row = Vec::new();
        for (r, (s, &j)) in spans.into_iter().zip(top).enumerate() {
            let Some(s) = s else { continue };
            let f1 = token_f1(&norm.tokens(&s.text), &gold);
            row.push((
                j,
                Candidate {
                    span: s.score,
                    null: s.null_score,
                    rank: r + 1,
                    f1,
                },
            ));
        }
        out.push(row);
        obs.step(n + 1, questions.len(), 0.0);
    }
    Ok(out)
}

/// Macro F1 (%) over languages of the candidate `pick` chooses per question.
fn macro_f1(
    examples: &[ReaderExample],
    questions: &[usize],
    cands: &[Vec<(usize, Candidate)>],
    pick: impl Fn(&[(usize, Candidate)]) -> Option<f64>,
) -> f64 {
    let mut by: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
    for (&qi, c) in questions.iter().zip(cands) {
        let e = by.entry(examples[qi].question_lang.as_str()).or_default();
        e.0 += pick(c).unwrap_or(0.0);
        e.1 += 1;
    }
    100.0 * by.values().map(|(s, n)| s / *n as f64).sum::<f64>() / by.len().max(1) as f64
}

fn best_by(c: &[(usize, Candidate)], cal: &Calibration) -> Option<f64> {
    c.iter()
        .max_by(|a, b| {
            let (x, y) = (&a.1, &b.1);
            cal.score(x.span, x.null, x.rank)
                .total_cmp(&cal.score(y.span, y.null, y.rank))
                .then(y.rank.cmp(&x.rank))
        })
        .map(|(_, c)| c.f1)
}

fn fit(
    examples: &[ReaderExample],
    questions: &[usize],
    pool: &[usize],
    cands: &[Vec<(usize, Candidate)>],
) -> CalibrationReport {
    let f1_of = |cal: &Calibration| macro_f1(examples, questions, cands, |c| best_by(c, cal));
    let mut best = (
        f64::NEG_INFINITY,
        Calibration {
            null_weight: 0.0,
            rank_weight: 0.0,
        },
    );
    for &a in &NULL_GRID {
        for &b in &RANK_GRID {
            let cal = Calibration {
                null_weight: a,
                rank_weight: b,
            };
            let f = f1_of(&cal);
            if f > best.0 + 1e-9 {
                best = (f, cal);
            }
        }
    }
    let mut counts = BTreeMap::new();
    for &qi in questions {
        *counts
            .entry(examples[qi].question_lang.clone())
            .or_default() += 1;
    }
    let gold = questions
        .iter()
        .zip(cands)
        .filter(|(&qi, c)| {
            c.iter()
                .any(|(j, _)| examples[*j].context == examples[qi].context)
        })
        .count();
    CalibrationReport {
        calibration: best.1,
        questions: counts,
        pool_paragraphs: pool.len(),
        f1_fitted: best.0,
        f1_span_only: f1_of(&Calibration {
            null_weight: 0.0,
            rank_weight: 0.0,
        }),
        f1_top_passage: macro_f1(examples, questions, cands, |c| {
            c.iter().find(|x| x.1.rank == 1).map(|x| x.1.f1)
        }),
        f1_oracle: macro_f1(examples, questions, cands, |c| {
            c.iter().map(|x| x.1.f1).reduce(f64::max)
        }),
        gold_in_top: gold as f64 / questions.len().max(1) as f64,
        at_grid_edge: best.1.null_weight == NULL_GRID[NULL_GRID.len() - 1]
            || best.1.rank_weight == RANK_GRID[RANK_GRID.len() - 1],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(id: &str, lang: &str, ctx: &str) -> ReaderExample {
        ReaderExample {
            id: id.into(),
            question_lang: lang.into(),
            passage_lang: lang.into(),
            question: "q".into(),
            context: ctx.into(),
            title: "t".into(),
            answer: (0, 1),
        }
    }

    fn cand(span: f32, null: f32, rank: usize, f1: f64) -> (usize, Candidate) {
        (
            0,
            Candidate {
                span,
                null,
                rank,
                f1,
            },
        )
    }

    #[test]
    fn the_fit_prefers_weights_that_pick_the_right_passage() {
        let exs = vec![ex("a", "en", "x"), ex("b", "de", "y")];
        // question a: the right answer has a lower span score but a much lower null score
        // question b: the right answer is at rank 1 with a slightly lower span score
        let cands = vec![
            vec![cand(5.0, 6.0, 1, 0.0), cand(4.0, -3.0, 2, 1.0)],
            vec![cand(3.0, 0.0, 1, 1.0), cand(3.2, 0.0, 2, 0.0)],
        ];
        let r = fit(&exs, &[0, 1], &[0, 1], &cands);
        assert!((r.f1_fitted - 100.0).abs() < 1e-9, "{r:?}");
        assert!(
            r.calibration.null_weight > 0.0 && r.calibration.rank_weight > 0.0,
            "{r:?}"
        );
        assert!((r.f1_span_only - 0.0).abs() < 1e-9);
        assert!((r.f1_top_passage - 50.0).abs() < 1e-9);
        assert!((r.f1_oracle - 100.0).abs() < 1e-9);
    }

    #[test]
    fn sampling_takes_one_question_per_paragraph_and_language() {
        let exs = vec![
            ex("1", "en", "p"),
            ex("2", "en", "p"),
            ex("3", "en", "r"),
            ex("4", "ja", "s"),
        ];
        let got = sample_per_lang(&exs, &[0, 1, 2, 3], 5);
        assert_eq!(got.len(), 3);
        assert_eq!(sample_per_lang(&exs, &[0, 1, 2, 3], 1).len(), 2);
    }
}
