//! QA answer metrics: exact match, token F1 and BLEU, per language and
//! averaged.
//!
//! Definitions (every score of one question is the **maximum over the gold
//! aliases**, as in the SQuAD v1.1, MLQA and MKQA scripts):
//!
//! - **EM** (exact match; Rajpurkar et al. 2016, SQuAD `evaluate-v1.1.py`):
//!   1 when the normalized token sequences of prediction and gold are
//!   equal, else 0.
//! - **F1** (token F1; same source): with c the size of the multiset
//!   intersection of the normalized tokens, P = c/|pred|, R = c/|gold|,
//!   F1 = 2PR/(P+R), 0 when c = 0. When either token list is empty, F1 = 1
//!   if both are, else 0 (SQuAD v2.0 `evaluate-v2.0.py`, MKQA): an empty
//!   prediction is right only for a "no answer" gold (MKQA `unanswerable` /
//!   `long_answer`, or a gold that normalizes to nothing, such as "The").
//! - **BLEU** (Papineni et al. 2002; see [`bleu`]): corpus BLEU-4 within a
//!   language over the same normalized tokens, gold aliases as multiple
//!   references; per question, sentence BLEU+1 (Lin & Och 2004).
//! - **Averages**: a language's EM/F1 is the mean over its questions (×100);
//!   **macro** = the unweighted mean over languages (MLQA/XTREME/MKQA
//!   report this); **micro** ("all") = the mean over all questions. BLEU per
//!   language is corpus-level, macro BLEU the mean over languages, "all"
//!   BLEU the corpus BLEU of all questions pooled.
//! - A question **without a prediction** counts as missing: EM = F1 = BLEU
//!   = 0 (even for a no-answer gold), and the count is reported.
//!
//! Normalization and tokenization: [`xlqa_data::normalize`] (MLQA/MKQA rules,
//! language-specific segmentation for zh/ja/th/lo/km/my). The rules follow
//! the **answer language**: the language of the question's record, unless
//! [`QaOptions::answer_lang`] overrides it (XOR-TyDi EngSpan: questions in
//! te/ja/…, answers in English).

pub mod bleu;
pub mod load;

use std::collections::{BTreeMap, HashMap};

use xlqa_core::Lang;

pub use bleu::{sentence_bleu, BleuStats};
pub use load::{match_predictions, read_predictions, Predictions};
use xlqa_data::gold::{GoldFormat, GoldSet};
use xlqa_data::normalize::{exact_match, token_f1, AnswerNormalizer, ZhTokens};

use crate::bootstrap::PerQuestion;

/// Errors of the QA evaluation.
#[derive(Debug, thiserror::Error)]
pub enum QaError {
    /// A gold, dataset or predictions file could not be read (file, line
    /// and field in the message).
    #[error(transparent)]
    Data(#[from] xlqa_data::DataError),
    /// Inputs that do not fit together (unknown ids, missing predictions …).
    #[error("{0}")]
    Invalid(String),
}

/// Evaluation options.
#[derive(Clone, Debug, Default)]
pub struct QaOptions {
    /// Tokens of Chinese answers.
    pub zh_tokens: ZhTokens,
    /// Normalize every answer with this language's rules instead of the
    /// question record's language.
    pub answer_lang: Option<Lang>,
    /// Compute BLEU too.
    pub bleu: bool,
    /// Fail when some question has no prediction.
    pub require_all: bool,
    /// The gold set was restricted to one language (`--lang`): predictions
    /// for other languages are ignored rather than rejected.
    pub languages_filtered: bool,
}

/// Scores of one language or an average, in percent.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Scores {
    pub questions: usize,
    pub em: f64,
    pub f1: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bleu: Option<f64>,
}

/// One language's row of the report.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LangReport {
    /// The language label (`en`, `zh_cn` …).
    pub lang: String,
    /// The language whose rules normalized the answers.
    pub answer_lang: String,
    /// The rules, in words.
    pub normalization: String,
    pub missing_predictions: usize,
    /// Questions whose gold is "no answer" only.
    pub no_answer_gold: usize,
    #[serde(flatten)]
    pub scores: Scores,
}

/// The full report of `xlqa eval qa`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct QaReport {
    pub gold: String,
    pub gold_format: GoldFormat,
    pub predictions: String,
    pub prediction_format: String,
    pub zh_tokens: ZhTokens,
    pub answer_lang_override: Option<String>,
    pub languages: Vec<LangReport>,
    /// Unweighted mean over languages.
    pub macro_avg: Scores,
    /// Mean over all questions (BLEU: pooled corpus).
    pub micro_avg: Scores,
    pub questions: usize,
    pub missing_predictions: usize,
    /// The first few missing (id, lang).
    pub missing_examples: Vec<String>,
    pub ignored_other_lang_predictions: usize,
    pub warnings: Vec<String>,
}

/// The report and the per-question scores (fractions in [0, 1]).
#[derive(Clone, Debug)]
pub struct QaOutcome {
    pub report: QaReport,
    pub per_question: Vec<PerQuestion>,
}

/// Languages usually written in a non-Latin script: Latin-only gold answers
/// there suggest the answers are in another language (XOR-TyDi EngSpan).
const NON_LATIN: &[&str] = &[
    "ar", "bn", "te", "ja", "ko", "ru", "zh", "th", "hi", "el", "he", "fa", "uk", "bg", "km", "lo",
    "my", "ta", "mr", "ne", "ur", "ka", "hy", "am", "gu", "kn", "ml", "pa", "si", "sr", "mk", "be",
    "kk", "mn", "yue",
];

/// A character that is not a letter, or a Latin letter (Basic Latin,
/// Latin-1, Latin Extended-A/B, IPA, Latin Extended Additional).
fn is_latin_or_neutral(c: char) -> bool {
    !c.is_alphabetic() || (c as u32) < 0x2B0 || ('\u{1E00}'..='\u{1EFF}').contains(&c)
}

/// Scores predictions against a gold set.
pub fn evaluate(
    gold: &GoldSet,
    preds: &Predictions,
    opts: &QaOptions,
    progress: &dyn Fn(usize, usize),
) -> Result<QaOutcome, QaError> {
    let matched = match_predictions(gold, preds, opts.languages_filtered)?;
    let missing: Vec<usize> = (0..gold.items.len())
        .filter(|&i| matched.texts[i].is_none())
        .collect();
    let missing_examples: Vec<String> = missing
        .iter()
        .take(5)
        .map(|&i| format!("{} [{}]", gold.items[i].id, gold.items[i].label))
        .collect();
    if opts.require_all && !missing.is_empty() {
        return Err(QaError::Invalid(format!(
            "{} of {} questions have no prediction in '{}' (--require-all), e.g. {}",
            missing.len(),
            gold.items.len(),
            preds.path.display(),
            missing_examples.join(", ")
        )));
    }

    let mut normalizers: HashMap<Lang, AnswerNormalizer> = HashMap::new();
    struct Acc {
        answer_lang: Lang,
        n: usize,
        missing: usize,
        no_answer: usize,
        em: f64,
        f1: f64,
        bleu: BleuStats,
        latin_only: usize,
    }
    let mut by_lang: BTreeMap<String, Acc> = BTreeMap::new();
    let mut all_bleu = BleuStats::default();
    let mut per_question = Vec::with_capacity(gold.items.len());
    let total = gold.items.len();
    for (i, q) in gold.items.iter().enumerate() {
        let answer_lang = opts.answer_lang.clone().unwrap_or(q.answers_lang.clone());
        let norm = normalizers
            .entry(answer_lang.clone())
            .or_insert_with(|| AnswerNormalizer::new(&answer_lang, opts.zh_tokens));
        let acc = by_lang.entry(q.label.clone()).or_insert_with(|| Acc {
            answer_lang: answer_lang.clone(),
            n: 0,
            missing: 0,
            no_answer: 0,
            em: 0.0,
            f1: 0.0,
            bleu: BleuStats::default(),
            latin_only: 0,
        });
        if acc.answer_lang != answer_lang {
            return Err(QaError::Invalid(format!(
                "language {} has answers in both {} and {}: cannot report one rule set",
                q.label, acc.answer_lang, answer_lang
            )));
        }
        acc.n += 1;
        if q.no_answer() {
            acc.no_answer += 1;
        }
        if !q.no_answer() && q.answers.iter().all(|a| a.chars().all(is_latin_or_neutral)) {
            acc.latin_only += 1;
        }
        let golds: Vec<Vec<String>> = q.answers.iter().map(|a| norm.tokens(a)).collect();
        let mut metrics = BTreeMap::new();
        let (em, f1, b, stats) = match &matched.texts[i] {
            Some(text) => {
                let p = norm.tokens(text);
                let em = golds.iter().map(|g| exact_match(&p, g)).fold(0.0, f64::max);
                let f1 = golds.iter().map(|g| token_f1(&p, g)).fold(0.0, f64::max);
                let (b, stats) = if opts.bleu {
                    (sentence_bleu(&p, &golds), BleuStats::of(&p, &golds))
                } else {
                    (0.0, BleuStats::default())
                };
                (em, f1, b, stats)
            }
            None => {
                acc.missing += 1;
                let stats = if opts.bleu {
                    BleuStats::of(&[], &golds)
                } else {
                    BleuStats::default()
                };
                (0.0, 0.0, 0.0, stats)
            }
        };
        acc.em += em;
        acc.f1 += f1;
        acc.bleu.add(&stats);
        all_bleu.add(&stats);
        metrics.insert("em".to_string(), em);
        metrics.insert("f1".to_string(), f1);
        if opts.bleu {
            metrics.insert("bleu".to_string(), b);
        }
        per_question.push(PerQuestion {
            id: q.id.clone(),
            lang: q.label.clone(),
            metrics,
        });
        if (i + 1) % 256 == 0 || i + 1 == total {
            progress(i + 1, total);
        }
    }

    let mut warnings = gold.notes.clone();
    let mut languages = Vec::new();
    let (mut em_sum, mut f1_sum, mut bleu_sum) = (0.0, 0.0, 0.0);
    let (mut em_all, mut f1_all) = (0.0, 0.0);
    for (lang, acc) in &by_lang {
        let norm = &normalizers[&acc.answer_lang];
        if opts.answer_lang.is_none()
            && NON_LATIN.contains(&acc.answer_lang.primary())
            && acc.latin_only * 10 >= acc.n * 9
        {
            warnings.push(format!(
                "{} of {} gold answers of language {lang} are written in Latin letters (or digits) only: if the answers are in another language (XOR-TyDi EngSpan answers are English), pass --answer-lang",
                acc.latin_only, acc.n
            ));
        }
        let n = acc.n as f64;
        let scores = Scores {
            questions: acc.n,
            em: 100.0 * acc.em / n,
            f1: 100.0 * acc.f1 / n,
            bleu: opts.bleu.then(|| 100.0 * acc.bleu.corpus_bleu()),
        };
        em_sum += scores.em;
        f1_sum += scores.f1;
        bleu_sum += scores.bleu.unwrap_or(0.0);
        em_all += acc.em;
        f1_all += acc.f1;
        languages.push(LangReport {
            lang: lang.clone(),
            answer_lang: acc.answer_lang.to_string(),
            normalization: norm.describe(),
            missing_predictions: acc.missing,
            no_answer_gold: acc.no_answer,
            scores,
        });
    }
    let k = languages.len() as f64;
    let macro_avg = Scores {
        questions: total,
        em: em_sum / k,
        f1: f1_sum / k,
        bleu: opts.bleu.then_some(bleu_sum / k),
    };
    let micro_avg = Scores {
        questions: total,
        em: 100.0 * em_all / total as f64,
        f1: 100.0 * f1_all / total as f64,
        bleu: opts.bleu.then(|| 100.0 * all_bleu.corpus_bleu()),
    };
    if matched.ignored_other_lang > 0 {
        warnings.push(format!(
            "{} predictions for other languages than the evaluated one were ignored",
            matched.ignored_other_lang
        ));
    }
    if !missing.is_empty() {
        warnings.push(format!(
            "{} of {} questions have no prediction and score 0 (e.g. {})",
            missing.len(),
            total,
            missing_examples.join(", ")
        ));
    }
    let report = QaReport {
        gold: gold.path.display().to_string(),
        gold_format: gold.format,
        predictions: preds.path.display().to_string(),
        prediction_format: preds.format.to_string(),
        zh_tokens: opts.zh_tokens,
        answer_lang_override: opts.answer_lang.as_ref().map(Lang::to_string),
        languages,
        macro_avg,
        micro_avg,
        questions: total,
        missing_predictions: missing.len(),
        missing_examples,
        ignored_other_lang_predictions: matched.ignored_other_lang,
        warnings,
    };
    Ok(QaOutcome {
        report,
        per_question,
    })
}

impl QaReport {
    /// Markdown tables: scores per language with the averages, then the
    /// normalization rules per language.
    pub fn to_markdown(&self) -> String {
        let bleu = self.macro_avg.bleu.is_some();
        let mut s = format!(
            "# QA answer metrics\n\ngold: `{}` ({}), predictions: `{}` ({}); {} questions, {} without prediction\n\n",
            self.gold,
            self.gold_format.as_str(),
            self.predictions,
            self.prediction_format,
            self.questions,
            self.missing_predictions
        );
        s.push_str("| lang | answers in | questions | missing | no-answer gold | EM | F1 |");
        s.push_str(if bleu { " BLEU |\n" } else { "\n" });
        s.push_str("|---|---|---:|---:|---:|---:|---:|");
        s.push_str(if bleu { "---:|\n" } else { "\n" });
        let b = |x: Option<f64>| x.map(|v| format!(" {v:.2} |")).unwrap_or_default();
        for l in &self.languages {
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {:.2} | {:.2} |{}\n",
                l.lang,
                l.answer_lang,
                l.scores.questions,
                l.missing_predictions,
                l.no_answer_gold,
                l.scores.em,
                l.scores.f1,
                b(l.scores.bleu)
            ));
        }
        s.push_str(&format!(
            "| **macro** ({} languages) | | {} | {} | | {:.2} | {:.2} |{}\n",
            self.languages.len(),
            self.questions,
            self.missing_predictions,
            self.macro_avg.em,
            self.macro_avg.f1,
            b(self.macro_avg.bleu)
        ));
        s.push_str(&format!(
            "| **all** (micro) | | {} | {} | | {:.2} | {:.2} |{}\n",
            self.questions,
            self.missing_predictions,
            self.micro_avg.em,
            self.micro_avg.f1,
            b(self.micro_avg.bleu)
        ));
        s.push_str("\n| lang | normalization |\n|---|---|\n");
        for l in &self.languages {
            s.push_str(&format!("| {} | {} |\n", l.lang, l.normalization));
        }
        if !self.warnings.is_empty() {
            s.push_str("\nWarnings:\n\n");
            for w in &self.warnings {
                s.push_str(&format!("- {w}\n"));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xlqa_data::gold::{parse_lang_label, GoldItem};

    fn q(id: &str, lang: &str, answers: &[&str]) -> GoldItem {
        let (label, l) = parse_lang_label(lang).unwrap();
        let answers = answers.iter().map(|s| s.to_string()).collect();
        GoldItem::single(id.into(), label, l, String::new(), answers)
    }

    fn gold(items: Vec<GoldItem>) -> GoldSet {
        GoldSet {
            path: "gold.jsonl".into(),
            format: GoldFormat::Xor,
            items,
            notes: vec![],
            lang_codes_trimmed: 0,
        }
    }

    fn preds(v: &[(&str, Option<&str>, &str)]) -> Predictions {
        Predictions {
            path: "pred.jsonl".into(),
            format: "jsonl",
            entries: v
                .iter()
                .enumerate()
                .map(|(i, (id, l, t))| load::Prediction {
                    id: id.to_string(),
                    lang: l.map(str::to_string),
                    text: t.to_string(),
                    at: format!("line {}", i + 1),
                })
                .collect(),
        }
    }

    #[test]
    fn max_over_aliases_and_averages() {
        let g = gold(vec![
            // aliases: "Dave Edmunds" / "Edmunds": pred "Edmunds" → EM 1, F1 1
            q("1", "en", &["Dave Edmunds", "Edmunds"]),
            // pred "the Eiffel tower in Paris" vs "Eiffel Tower": tokens
            // [eiffel, tower, in, paris] vs [eiffel, tower]: P = 2/4, R = 1
            // → F1 = 2·0.5·1/1.5 = 2/3; EM 0
            q("2", "en", &["Eiffel Tower"]),
            // MKQA-style no answer: "" gold; empty prediction → EM = F1 = 1
            q("3", "de", &[""]),
            // no prediction → 0
            q("4", "de", &["Berlin"]),
        ]);
        let p = preds(&[
            ("1", None, "Edmunds"),
            ("2", None, "the Eiffel tower in Paris"),
            ("3", None, ""),
        ]);
        let out = evaluate(&g, &p, &QaOptions::default(), &|_, _| {}).unwrap();
        let r = &out.report;
        let de = &r.languages[0];
        let en = &r.languages[1];
        assert_eq!((de.lang.as_str(), en.lang.as_str()), ("de", "en"));
        // en: EM (1+0)/2 = 50, F1 (1 + 2/3)/2 = 83.33…
        assert!((en.scores.em - 50.0).abs() < 1e-9);
        assert!((en.scores.f1 - 100.0 * (5.0 / 6.0)).abs() < 1e-9);
        // de: EM = F1 = (1 + 0)/2 = 50; one missing, one no-answer gold
        assert!((de.scores.f1 - 50.0).abs() < 1e-9);
        assert_eq!((de.missing_predictions, de.no_answer_gold), (1, 1));
        // macro F1 = (83.33 + 50)/2 = 66.67; micro = (1 + 2/3 + 1 + 0)/4 = 66.67
        // macro EM = (50+50)/2 = 50; micro EM = 2/4 = 50
        assert!((r.macro_avg.f1 - 100.0 * (5.0 / 6.0 + 0.5) / 2.0).abs() < 1e-9);
        assert!((r.micro_avg.f1 - 100.0 * (8.0 / 3.0) / 4.0).abs() < 1e-9);
        assert_eq!(r.missing_predictions, 1);
        assert_eq!(out.per_question[1].metrics["f1"], 2.0 / 3.0);
        assert_eq!(out.per_question[3].metrics["f1"], 0.0);
        // --require-all turns the missing prediction into an error
        let opts = QaOptions {
            require_all: true,
            ..QaOptions::default()
        };
        let msg = evaluate(&g, &p, &opts, &|_, _| {}).unwrap_err().to_string();
        assert!(msg.contains("1 of 4") && msg.contains("4 [de]"), "{msg}");
    }

    #[test]
    fn answer_language_override_and_keys() {
        // XOR EngSpan: Japanese question, English answer. With the record's
        // language (ja) "the" is no article: pred "Portland" vs "The
        // Portland": ICU words [the, portland] vs [portland] → F1 = 2/3.
        let g = gold(vec![q("x", "ja", &["The Portland"])]);
        let p = preds(&[("x", Some("ja"), "Portland")]);
        let out = evaluate(&g, &p, &QaOptions::default(), &|_, _| {}).unwrap();
        assert!((out.per_question[0].metrics["f1"] - 2.0 / 3.0).abs() < 1e-12);
        assert!(out
            .report
            .warnings
            .iter()
            .any(|w| w.contains("--answer-lang")));
        // with --answer-lang en the article goes: EM = F1 = 1
        let opts = QaOptions {
            answer_lang: Some(Lang::parse("en").unwrap()),
            ..QaOptions::default()
        };
        let out = evaluate(&g, &p, &opts, &|_, _| {}).unwrap();
        assert_eq!(out.per_question[0].metrics["em"], 1.0);
        assert_eq!(out.report.languages[0].answer_lang, "en");

        // the same id in two languages: keyed predictions work, bare ids are
        // ambiguous, unknown ids are named
        let g = gold(vec![q("a", "en", &["one"]), q("a", "zh_cn", &["一"])]);
        let ok = preds(&[("a", Some("en"), "one"), ("a", Some("zh_cn"), "一")]);
        let out = evaluate(&g, &ok, &QaOptions::default(), &|_, _| {}).unwrap();
        assert_eq!(out.report.micro_avg.em, 100.0);
        let bare = preds(&[("a", None, "one")]);
        let msg = evaluate(&g, &bare, &QaOptions::default(), &|_, _| {})
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("ambiguous") && msg.contains("en, zh_cn"),
            "{msg}"
        );
        let unknown = preds(&[("a", Some("en"), "one"), ("zz", Some("en"), "x")]);
        let msg = evaluate(&g, &unknown, &QaOptions::default(), &|_, _| {})
            .unwrap_err()
            .to_string();
        assert!(msg.contains("\"zz\" [en] (line 2)"), "{msg}");
        let twice = preds(&[("a", Some("en"), "one"), ("a", Some("en"), "two")]);
        let msg = evaluate(&g, &twice, &QaOptions::default(), &|_, _| {})
            .unwrap_err()
            .to_string();
        assert!(msg.contains("line 2") && msg.contains("line 1"), "{msg}");
    }

    #[test]
    fn bleu_in_the_report() {
        // en corpus of two questions; tokens after normalization:
        // q1 hyp [paris] ref [paris, france]; q2 hyp [x, y, z, w] refs
        // [x, y, z, q] and [x, y]. Sums: M = 1+3, 0+2, 0+1, 0+0 → M4 = 0 →
        // corpus BLEU 0. Sentence BLEU: q1 = e^(1−2) = 0.367879 (see bleu.rs),
        // q2 = 0.1875^(1/4).
        let g = gold(vec![
            q("1", "en", &["Paris, France"]),
            q("2", "en", &["x y z q", "x y"]),
        ]);
        let p = preds(&[("1", None, "Paris"), ("2", None, "x y z w")]);
        let opts = QaOptions {
            bleu: true,
            ..QaOptions::default()
        };
        let out = evaluate(&g, &p, &opts, &|_, _| {}).unwrap();
        assert_eq!(out.report.languages[0].scores.bleu, Some(0.0));
        assert!((out.per_question[0].metrics["bleu"] - (-1.0f64).exp()).abs() < 1e-12);
        assert!((out.per_question[1].metrics["bleu"] - 0.1875f64.powf(0.25)).abs() < 1e-12);
        // a perfect corpus needs 4-grams: hyp = ref = "a b c d e" → BLEU 100
        let g = gold(vec![q("1", "fi", &["a b c d e"])]);
        let p = preds(&[("1", None, "a b c d e")]);
        let out = evaluate(&g, &p, &opts, &|_, _| {}).unwrap();
        assert!((out.report.macro_avg.bleu.unwrap() - 100.0).abs() < 1e-9);
        assert!(out
            .report
            .to_markdown()
            .contains("| fi | fi | 1 | 0 | 0 | 100.00 | 100.00 | 100.00 |"));
    }
}
