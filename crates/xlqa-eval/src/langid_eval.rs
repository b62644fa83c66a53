//! Accuracy of the language identifier on labelled texts, per language, with
//! its confusions.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use xlqa_core::Lang;
use xlqa_text::langid::LangId;

/// Accuracy on the texts of one gold language.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LangIdRow {
    /// The gold language.
    pub lang: Lang,
    /// Number of texts.
    pub n: usize,
    /// Texts whose detected language has the gold primary subtag.
    pub correct: usize,
    /// `correct / n`.
    pub accuracy: f64,
    /// Texts for which no language was detected (no letters).
    pub undetected: usize,
    /// The language most often detected instead of the gold one, with its
    /// count (ties broken by code order).
    pub top_confusion: Option<(Lang, usize)>,
}

/// Language-identification accuracy over a labelled set.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LangIdReport {
    /// One row per gold language, in code order.
    pub per_lang: Vec<LangIdRow>,
    /// Mean of the per-language accuracies.
    pub macro_accuracy: f64,
    /// Correct texts over all texts.
    pub micro_accuracy: f64,
    /// `(gold, detected, count)` for every wrong pair, most frequent first.
    pub confusions: Vec<(Lang, Lang, usize)>,
}

/// Runs `langid` on every `(gold language, text)` pair, on all cores. A
/// detection counts as correct when its primary subtag equals the gold one
/// (`zh-Hant` = `zh`).
pub fn evaluate_langid(langid: &LangId, items: &[(Lang, String)]) -> LangIdReport {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let chunk = items.len().div_ceil(threads).max(1);
    let detected: Vec<Option<Lang>> = std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|(_, text)| langid.detect(text).map(|d| d.lang))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| match h.join() {
                Ok(v) => v,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    report_from_predictions(items.iter().map(|(gold, _)| gold), &detected)
}

/// Builds the report from gold labels and detections (in the same order).
pub fn report_from_predictions<'a>(
    gold: impl IntoIterator<Item = &'a Lang>,
    detected: &[Option<Lang>],
) -> LangIdReport {
    // gold -> (n, correct, undetected, confusions)
    type Tally = (usize, usize, usize, BTreeMap<Lang, usize>);
    let mut tallies: BTreeMap<Lang, Tally> = BTreeMap::new();
    for (gold, det) in gold.into_iter().zip(detected) {
        let t = tallies.entry(gold.clone()).or_default();
        t.0 += 1;
        match det {
            Some(d) if d.primary() == gold.primary() => t.1 += 1,
            Some(d) => *t.3.entry(d.clone()).or_default() += 1,
            None => t.2 += 1,
        }
    }
    let mut per_lang = Vec::with_capacity(tallies.len());
    let mut confusions = Vec::new();
    let (mut total, mut total_correct) = (0usize, 0usize);
    for (lang, (n, correct, undetected, conf)) in tallies {
        total += n;
        total_correct += correct;
        let top_confusion = conf
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
            .map(|(l, c)| (l.clone(), *c));
        for (det, c) in conf {
            confusions.push((lang.clone(), det, c));
        }
        per_lang.push(LangIdRow {
            accuracy: ratio(correct, n),
            lang,
            n,
            correct,
            undetected,
            top_confusion,
        });
    }
    confusions.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| (&a.0, &a.1).cmp(&(&b.0, &b.1))));
    let macro_accuracy = if per_lang.is_empty() {
        0.0
    } else {
        per_lang.iter().map(|r| r.accuracy).sum::<f64>() / per_lang.len() as f64
    };
    LangIdReport {
        per_lang,
        macro_accuracy,
        micro_accuracy: ratio(total_correct, total),
        confusions,
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

impl LangIdReport {
    /// The accuracy row of `lang`, if it was in the set.
    pub fn row(&self, lang: &str) -> Option<&LangIdRow> {
        self.per_lang.iter().find(|r| r.lang.as_str() == lang)
    }

    /// A Markdown table: one row per language (n, accuracy, top confusion),
    /// then the macro and micro averages.
    pub fn to_markdown(&self) -> String {
        let mut s = String::from("| lang | n | accuracy | top confusion |\n|---|---:|---:|---|\n");
        let mut n_total = 0;
        for r in &self.per_lang {
            n_total += r.n;
            let conf = match &r.top_confusion {
                Some((l, c)) => format!("{l} ({c})"),
                None => "–".to_string(),
            };
            let conf = if r.undetected > 0 {
                format!("{conf}; undetected {}", r.undetected)
            } else {
                conf
            };
            let _ = writeln!(
                s,
                "| {} | {} | {:.2}% | {} |",
                r.lang,
                r.n,
                100.0 * r.accuracy,
                conf
            );
        }
        let _ = writeln!(
            s,
            "| **macro** | {} | **{:.2}%** | |\n| micro | {} | {:.2}% | |",
            n_total,
            100.0 * self.macro_accuracy,
            n_total,
            100.0 * self.micro_accuracy
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(c: &str) -> Lang {
        Lang::parse(c).unwrap()
    }

    #[test]
    fn report_counts_accuracies_and_confusions() {
        let gold = [l("en"), l("en"), l("en"), l("en"), l("zh-Hant"), l("de")];
        let det = [
            Some(l("en")),
            Some(l("en")),
            Some(l("sco")),
            None,
            Some(l("zh")),
            Some(l("en")),
        ];
        let r = report_from_predictions(gold.iter(), &det);
        assert_eq!(r.per_lang.len(), 3);
        let en = r.row("en").unwrap();
        assert_eq!((en.n, en.correct, en.undetected), (4, 2, 1));
        assert_eq!(en.top_confusion, Some((l("sco"), 1)));
        assert!((en.accuracy - 0.5).abs() < 1e-12);
        assert_eq!(r.row("zh-Hant").unwrap().accuracy, 1.0);
        assert_eq!(r.row("de").unwrap().accuracy, 0.0);
        assert!((r.macro_accuracy - 0.5).abs() < 1e-12);
        assert!((r.micro_accuracy - 3.0 / 6.0).abs() < 1e-12);
        assert_eq!(
            r.confusions,
            vec![(l("de"), l("en"), 1), (l("en"), l("sco"), 1)]
        );
        let md = r.to_markdown();
        assert!(
            md.contains("| en | 4 | 50.00% | sco (1); undetected 1 |"),
            "{md}"
        );
        assert!(md.contains("| **macro** | 6 | **50.00%** | |"), "{md}");
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"macro_accuracy\":0.5"), "{json}");
    }

    #[test]
    fn empty_report() {
        let r = report_from_predictions(std::iter::empty(), &[]);
        assert!(r.per_lang.is_empty());
        assert_eq!((r.macro_accuracy, r.micro_accuracy), (0.0, 0.0));
    }
}
