//! Aggregating per-question LAReQA results into tables and pictures.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::{LareqaData, QuestionResult};
use crate::plot::{pca2, scatter_svg, Heatmap, Point};

/// Means over a set of questions.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    pub questions: usize,
    pub map: f64,
    pub mrr: f64,
    pub r1: f64,
    pub r10: f64,
    pub r100: f64,
    /// mAP with only the question's own language in the pool.
    pub map_mono: f64,
    /// Share of the question's own language among the top 100.
    pub own_lang_top100: f64,
}

/// "Remove one target" (paper Table 3), over the questions where both
/// removals are defined.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RemoveOne {
    pub questions: usize,
    pub map_full: f64,
    pub map_minus_rand: f64,
    pub map_minus_same: f64,
    /// `100 · (–same − –rand) / –rand`.
    pub delta_pct: f64,
}

/// A published number to print beside ours.
#[derive(Clone, Debug, Serialize)]
pub struct Published {
    pub model: &'static str,
    pub xquad_r: f64,
    pub mlqa_r: f64,
}

/// LAReQA paper (Roy et al. 2020) Table 2, mAP of the mBERT dual encoders.
pub const PUBLISHED: [Published; 5] = [
    Published {
        model: "mBERT En-En",
        xquad_r: 0.29,
        mlqa_r: 0.36,
    },
    Published {
        model: "mBERT X-X",
        xquad_r: 0.23,
        mlqa_r: 0.26,
    },
    Published {
        model: "mBERT X-X-mono",
        xquad_r: 0.52,
        mlqa_r: 0.49,
    },
    Published {
        model: "mBERT X-Y",
        xquad_r: 0.66,
        mlqa_r: 0.49,
    },
    Published {
        model: "Translate-Test (USE-QA)",
        xquad_r: 0.72,
        mlqa_r: 0.58,
    },
];

/// LAReQA Table 3 for the X-Y model on XQuAD-R: (–rand, –same).
pub const PUBLISHED_XY_REMOVE_ONE: (f64, f64) = (0.65, 0.64);

/// Which published benchmark the evaluated data is (by its languages).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Benchmark {
    #[serde(rename = "XQuAD-R")]
    XquadR,
    #[serde(rename = "MLQA-R")]
    MlqaR,
    /// Another language set or a slice: no published numbers apply.
    #[serde(rename = "other")]
    Other,
}

/// The full report of one run.
#[derive(Clone, Debug, Serialize)]
pub struct LareqaReport {
    pub benchmark: Benchmark,
    /// True when every question of the files was evaluated (no article limit).
    pub complete: bool,
    pub data: BTreeMap<String, String>,
    pub retriever: String,
    pub candidate: String,
    pub answer_sentence_rule: String,
    pub encoder: Option<String>,
    pub settings: BTreeMap<String, String>,
    pub langs: Vec<String>,
    pub candidates: usize,
    /// Questions left out: no sentence of any language holds their answer.
    pub excluded_questions: usize,
    pub candidates_per_lang: BTreeMap<String, usize>,
    /// Over all questions.
    pub overall: Summary,
    /// Mean of the per-language values.
    pub macro_avg: Summary,
    pub per_lang: BTreeMap<String, Summary>,
    pub remove_one: RemoveOne,
    pub remove_one_per_lang: BTreeMap<String, RemoveOne>,
    /// `[question lang][answer lang]`: mean AP with only that target.
    pub pair_matrix: Vec<Vec<Option<f64>>>,
    /// `[question lang][candidate lang]`: share of the top 100.
    pub top100_share: Vec<Vec<f64>>,
    pub published: Vec<Published>,
    pub timings_s: BTreeMap<String, f64>,
    pub embedding_cache: Option<xlqa_models::CacheStats>,
    pub warnings: Vec<String>,
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let (mut s, mut n) = (0.0, 0usize);
    for x in xs {
        s += x;
        n += 1;
    }
    if n == 0 {
        0.0
    } else {
        s / n as f64
    }
}

fn summary(rs: &[&QuestionResult], lang_idx: &BTreeMap<&str, usize>) -> Summary {
    Summary {
        questions: rs.len(),
        map: mean(rs.iter().map(|r| r.ap)),
        mrr: mean(rs.iter().map(|r| r.rr)),
        r1: mean(rs.iter().map(|r| r.recall[0])),
        r10: mean(rs.iter().map(|r| r.recall[1])),
        r100: mean(rs.iter().map(|r| r.recall[2])),
        map_mono: mean(rs.iter().filter_map(|r| r.ap_mono)),
        own_lang_top100: mean(rs.iter().map(|r| {
            let own = r.top100[lang_idx[r.lang.as_str()]] as f64;
            let all: u32 = r.top100.iter().sum();
            if all == 0 {
                0.0
            } else {
                own / all as f64
            }
        })),
    }
}

fn remove_one(rs: &[&QuestionResult]) -> RemoveOne {
    let both: Vec<(f64, f64, f64)> = rs
        .iter()
        .filter_map(|r| Some((r.ap, r.ap_minus_rand?, r.ap_minus_same?)))
        .collect();
    let rand = mean(both.iter().map(|b| b.1));
    let same = mean(both.iter().map(|b| b.2));
    RemoveOne {
        questions: both.len(),
        map_full: mean(both.iter().map(|b| b.0)),
        map_minus_rand: rand,
        map_minus_same: same,
        delta_pct: if rand > 0.0 {
            100.0 * (same - rand) / rand
        } else {
            0.0
        },
    }
}

/// What the report needs to know about the run besides the results.
pub struct RunInfo {
    pub retriever: String,
    pub candidate: String,
    pub rule: String,
    pub encoder: Option<String>,
    pub settings: BTreeMap<String, String>,
    pub complete: bool,
    pub timings_s: BTreeMap<String, f64>,
    pub cache: Option<xlqa_models::CacheStats>,
}

impl LareqaReport {
    /// Aggregates the per-question results of `d`.
    pub fn new(d: &LareqaData, results: &[QuestionResult], info: RunInfo) -> LareqaReport {
        let langs = super::lang_codes(d);
        let lang_idx: BTreeMap<&str, usize> = langs
            .iter()
            .enumerate()
            .map(|(i, l)| (l.as_str(), i))
            .collect();
        let all: Vec<&QuestionResult> = results.iter().collect();
        let mut per_lang = BTreeMap::new();
        let mut remove_one_per_lang = BTreeMap::new();
        let n = langs.len();
        let mut pair_matrix = vec![vec![None; n]; n];
        let mut top100_share = vec![vec![0.0; n]; n];
        for (li, l) in langs.iter().enumerate() {
            let rs: Vec<&QuestionResult> = results.iter().filter(|r| &r.lang == l).collect();
            if rs.is_empty() {
                continue;
            }
            per_lang.insert(l.clone(), summary(&rs, &lang_idx));
            remove_one_per_lang.insert(l.clone(), remove_one(&rs));
            for (ti, cell) in pair_matrix[li].iter_mut().enumerate() {
                let v: Vec<f64> = rs.iter().filter_map(|r| r.ap_by_target[ti]).collect();
                if !v.is_empty() {
                    *cell = Some(mean(v.into_iter()));
                }
            }
            let mut counts = vec![0u64; n];
            for r in &rs {
                for (c, &k) in counts.iter_mut().zip(&r.top100) {
                    *c += k as u64;
                }
            }
            let total: u64 = counts.iter().sum();
            for (cell, c) in top100_share[li].iter_mut().zip(counts) {
                *cell = if total == 0 {
                    0.0
                } else {
                    c as f64 / total as f64
                };
            }
        }
        let ls: Vec<&Summary> = per_lang.values().collect();
        let macro_avg = Summary {
            questions: results.len(),
            map: mean(ls.iter().map(|s| s.map)),
            mrr: mean(ls.iter().map(|s| s.mrr)),
            r1: mean(ls.iter().map(|s| s.r1)),
            r10: mean(ls.iter().map(|s| s.r10)),
            r100: mean(ls.iter().map(|s| s.r100)),
            map_mono: mean(ls.iter().map(|s| s.map_mono)),
            own_lang_top100: mean(ls.iter().map(|s| s.own_lang_top100)),
        };
        let set: Vec<&str> = langs.iter().map(|s| s.as_str()).collect();
        let benchmark = if !info.complete {
            Benchmark::Other
        } else if set
            == [
                "ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh",
            ]
        {
            Benchmark::XquadR
        } else if set == ["ar", "de", "en", "es", "hi", "vi", "zh"] {
            Benchmark::MlqaR
        } else {
            Benchmark::Other
        };
        let overall = summary(&all, &lang_idx);
        let mut warnings: Vec<String> = d.warnings.iter().take(20).cloned().collect();
        if d.warnings.len() > 20 {
            warnings.push(format!("… and {} more", d.warnings.len() - 20));
        }
        LareqaReport {
            benchmark,
            complete: info.complete,
            data: d
                .files
                .iter()
                .map(|(l, p)| (l.clone(), p.display().to_string()))
                .collect(),
            retriever: info.retriever,
            candidate: info.candidate,
            answer_sentence_rule: info.rule,
            encoder: info.encoder,
            settings: info.settings,
            candidates: d.candidates.len(),
            excluded_questions: d.excluded_questions,
            candidates_per_lang: langs.iter().cloned().zip(d.candidates_per_lang()).collect(),
            langs: langs.clone(),
            overall,
            macro_avg,
            per_lang,
            remove_one: remove_one(&all),
            remove_one_per_lang,
            pair_matrix,
            top100_share,
            published: PUBLISHED.to_vec(),
            timings_s: info.timings_s,
            embedding_cache: info.cache,
            warnings,
        }
    }

    fn system_name(&self) -> String {
        format!("xlqa {} ({} candidates)", self.retriever, self.candidate)
    }

    /// The tables in Markdown.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let name = self.system_name();
        let bench = match self.benchmark {
            Benchmark::XquadR => "XQuAD-R",
            Benchmark::MlqaR => "MLQA-R",
            Benchmark::Other => "a custom language set or slice",
        };
        let _ = writeln!(
            s,
            "### LAReQA on {bench}: {} questions, {} candidates in {} languages\n",
            self.overall.questions,
            self.candidates,
            self.langs.len()
        );
        let _ = writeln!(
            s,
            "Retriever: {}{}; candidates: {}; answer sentence rule: {}.{}\n",
            self.retriever,
            self.encoder
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default(),
            self.candidate,
            self.answer_sentence_rule,
            if self.excluded_questions > 0 {
                format!(
                    " {} questions without any correct candidate are left out (see warnings).",
                    self.excluded_questions
                )
            } else {
                String::new()
            }
        );
        let _ = writeln!(s, "| model | mAP | note |\n|---|---:|---|");
        for p in &self.published {
            let v = match self.benchmark {
                Benchmark::MlqaR => format!("{:.2}", p.mlqa_r),
                Benchmark::XquadR => format!("{:.2}", p.xquad_r),
                Benchmark::Other => format!("({:.2} / {:.2})", p.xquad_r, p.mlqa_r),
            };
            let _ = writeln!(s, "| {} | {v} | paper, Table 2 |", p.model);
        }
        let _ = writeln!(
            s,
            "| **{name}** | **{:.4}** | measured; macro over languages {:.4} |\n",
            self.overall.map, self.macro_avg.map
        );
        if self.benchmark == Benchmark::Other {
            let _ = writeln!(
                s,
                "(Published numbers are XQuAD-R / MLQA-R on the full data; this run is not comparable to them.)\n"
            );
        }
        let _ = writeln!(
            s,
            "| question lang | questions | mAP | MRR | R@1 | R@10 | R@100 | mAP mono-pool | own lang in top-100 |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        let row = |s: &mut String, l: &str, m: &Summary| {
            let _ = writeln!(
                s,
                "| {l} | {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.1}% |",
                m.questions,
                m.map,
                m.mrr,
                m.r1,
                m.r10,
                m.r100,
                m.map_mono,
                100.0 * m.own_lang_top100
            );
        };
        for (l, m) in &self.per_lang {
            row(&mut s, l, m);
        }
        row(&mut s, "**macro**", &self.macro_avg);
        row(&mut s, "**all**", &self.overall);
        let r = &self.remove_one;
        let _ = writeln!(
            s,
            "\nRemove one target (paper Table 3): over {} questions\n\n| | full | –rand | –same | %Δ |\n|---|---:|---:|---:|---:|\n| **{name}** | {:.4} | {:.4} | {:.4} | {:+.1}% |",
            r.questions, r.map_full, r.map_minus_rand, r.map_minus_same, r.delta_pct
        );
        if self.benchmark == Benchmark::XquadR {
            let (pr, ps) = PUBLISHED_XY_REMOVE_ONE;
            let _ = writeln!(
                s,
                "| mBERT X-Y (paper) | 0.66 | {pr:.2} | {ps:.2} | {:+.1}% |",
                100.0 * (ps - pr) / pr
            );
        }
        let _ = writeln!(
            s,
            "\nLimit to one target (paper Fig. 4): mean AP with only the answer-language target, rows = question language, columns = answer language\n"
        );
        self.matrix_md(&mut s, &self.pair_matrix, |v| format!("{v:.3}"));
        let _ = writeln!(
            s,
            "\nLanguages of the top-100 candidates (paper Appendix B), % per question language\n"
        );
        let shares: Vec<Vec<Option<f64>>> = self
            .top100_share
            .iter()
            .map(|r| r.iter().map(|&v| Some(v)).collect())
            .collect();
        self.matrix_md(&mut s, &shares, |v| format!("{:.1}", 100.0 * v));
        s
    }

    fn matrix_md(&self, s: &mut String, m: &[Vec<Option<f64>>], fmt: impl Fn(f64) -> String) {
        let _ = write!(s, "| q \\ a |");
        for l in &self.langs {
            let _ = write!(s, " {l} |");
        }
        let _ = write!(s, "\n|---|");
        for _ in &self.langs {
            let _ = write!(s, "---:|");
        }
        s.push('\n');
        for (l, row) in self.langs.iter().zip(m) {
            let _ = write!(s, "| {l} |");
            for v in row {
                let _ = write!(s, " {} |", v.map(&fmt).unwrap_or_else(|| "–".into()));
            }
            s.push('\n');
        }
    }

    /// Heatmap of the language-pair matrix.
    pub fn pair_svg(&self) -> String {
        Heatmap {
            title: &format!("LAReQA limit-to-one-target mAP: {}", self.system_name()),
            row_axis: "question language",
            col_axis: "answer language",
            rows: &self.langs,
            cols: &self.langs,
            values: &self.pair_matrix,
            lo: 0.0,
            hi: 1.0,
            decimals: 2,
        }
        .to_svg()
    }

    /// Heatmap of the top-100 language distribution.
    pub fn top100_svg(&self) -> String {
        let values: Vec<Vec<Option<f64>>> = self
            .top100_share
            .iter()
            .map(|r| r.iter().map(|&v| Some(100.0 * v)).collect())
            .collect();
        Heatmap {
            title: &format!(
                "Languages of the top-100 candidates (%): {}",
                self.system_name()
            ),
            row_axis: "question language",
            col_axis: "candidate language",
            rows: &self.langs,
            cols: &self.langs,
            values: &values,
            lo: 0.0,
            hi: 100.0,
            decimals: 0,
        }
        .to_svg()
    }

    /// One JSON line per question for `xlqa eval compare`.
    pub fn per_question_jsonl(results: &[QuestionResult]) -> String {
        let mut s = String::new();
        for r in results {
            let mut m = serde_json::Map::new();
            let mut put = |k: &str, v: Option<f64>| {
                if let Some(v) = v {
                    m.insert(k.to_string(), serde_json::json!(v));
                }
            };
            put("ap", Some(r.ap));
            put("rr", Some(r.rr));
            put("r@1", Some(r.recall[0]));
            put("r@10", Some(r.recall[1]));
            put("r@100", Some(r.recall[2]));
            put("ap_mono", r.ap_mono);
            put("ap_minus_same", r.ap_minus_same);
            put("ap_minus_rand", r.ap_minus_rand);
            let line = serde_json::json!({"id": r.id, "lang": r.lang, "metrics": m});
            s.push_str(&line.to_string());
            s.push('\n');
        }
        s
    }
}

/// PCA plot of question and candidate embeddings coloured by language.
pub fn pca_svg(points: &super::Points, langs: &[String], title: &str) -> String {
    let rows: Vec<Vec<f32>> = points.iter().map(|p| p.2.clone()).collect();
    let (coords, var) = pca2(&rows);
    let pts: Vec<Point> = points
        .iter()
        .zip(coords)
        .map(|(p, (x, y))| Point {
            x,
            y,
            group: p.0,
            hollow: p.1,
        })
        .collect();
    scatter_svg(
        title,
        &pts,
        langs,
        ("candidate", "question"),
        (
            &format!("PC1 ({:.1}% of variance)", 100.0 * var[0]),
            &format!("PC2 ({:.1}% of variance)", 100.0 * var[1]),
        ),
    )
}
