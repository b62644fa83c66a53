//! Paired bootstrap resampling (Koehn 2004, "Statistical Significance Tests
//! for Machine Translation Evaluation") between two runs over the same
//! questions, on any per-question metric of `per_question.jsonl` files.
//!
//! Procedure, for runs A and B matched by (id, lang):
//!
//! - dᵢ = aᵢ − bᵢ per question; the observed difference of a group is the
//!   mean of its dᵢ (= mean A − mean B);
//! - each of the B resamples draws, **within every language**, as many
//!   questions as the language has, uniformly with replacement (stratified
//!   by language, so every resample keeps the language mix). From one
//!   resample come the difference of every language, of **all** questions
//!   pooled (micro: Σ over drawn dᵢ / N) and the **macro** difference (the
//!   mean of the languages' differences);
//! - **95% interval**: the percentile interval of the B resampled
//!   differences, sorted: [d₍ₖ₎, d₍B−1−ₖ₎] with k = ⌊0.025·B⌋ (0-based;
//!   for B = 1000 the 26th and 975th values);
//! - **p-value** (two-sided, Koehn's sign test on resamples): if the
//!   observed difference is 0, p = 1; otherwise p = min(1, 2·k/B) with k the
//!   number of resamples whose difference does not have the observed sign
//!   (a resampled difference of exactly 0 counts against). p = 0 means that
//!   no resample reversed the sign: p < 1/B. Differences within 1e-12 of 0
//!   count as 0 (floating-point sums).
//!
//! Random numbers: SplitMix64 (Steele, Lea & Flood 2014) seeded with the
//! given seed; an index below n is ⌊x·n / 2⁶⁴⌋ of a 64-bit draw x (bias
//! below n/2⁶⁴, negligible). Languages are resampled in label order, so the
//! result is a pure function of the inputs, B and the seed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One line of `per_question.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PerQuestion {
    pub id: String,
    pub lang: String,
    pub metrics: BTreeMap<String, f64>,
}

/// Writes `per_question.jsonl` lines.
pub fn write_per_question(w: &mut impl Write, rows: &[PerQuestion]) -> std::io::Result<()> {
    for r in rows {
        serde_json::to_writer(&mut *w, r)?;
        w.write_all(b"\n")?;
    }
    Ok(())
}

/// Errors of the bootstrap.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("cannot read '{path}': {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("'{path}' line {line}: {message}")]
    Format {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{0}")]
    Invalid(String),
}

/// A read `per_question.jsonl`.
#[derive(Clone, Debug)]
pub struct PerQuestionFile {
    pub path: PathBuf,
    pub rows: Vec<PerQuestion>,
    /// The 1-based line of every row.
    pub lines: Vec<usize>,
}

/// Reads a `per_question.jsonl` file, or the one inside a report folder.
/// Strict: every line an object with a non-empty string `id` and `lang` and
/// an object `metrics` of finite numbers; no (id, lang) twice.
pub fn read_per_question(path: &Path) -> Result<PerQuestionFile, BootstrapError> {
    let path = if path.is_dir() {
        path.join("per_question.jsonl")
    } else {
        path.to_path_buf()
    };
    let io = |source| BootstrapError::Io {
        path: path.clone(),
        source,
    };
    let file = std::fs::File::open(&path).map_err(io)?;
    let fmt = |line: usize, message: String| BootstrapError::Format {
        path: path.clone(),
        line,
        message,
    };
    let mut rows = Vec::new();
    let mut lines = Vec::new();
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let n = i + 1;
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| fmt(n, format!("not valid JSON: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| fmt(n, "expected a JSON object".into()))?;
        let text = |k: &str| -> Result<String, BootstrapError> {
            match obj.get(k) {
                Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
                Some(serde_json::Value::String(_)) => {
                    Err(fmt(n, format!("field {k:?}: empty string")))
                }
                Some(_) => Err(fmt(n, format!("field {k:?}: expected a string"))),
                None => Err(fmt(n, format!("field {k:?}: missing"))),
            }
        };
        let id = text("id")?;
        let lang = text("lang")?;
        let m = obj
            .get("metrics")
            .ok_or_else(|| fmt(n, "field \"metrics\": missing".into()))?
            .as_object()
            .ok_or_else(|| fmt(n, "field \"metrics\": expected an object".into()))?;
        let mut metrics = BTreeMap::new();
        for (k, x) in m {
            let x = x.as_f64().filter(|x| x.is_finite()).ok_or_else(|| {
                fmt(
                    n,
                    format!("field \"metrics.{k}\": expected a finite number"),
                )
            })?;
            metrics.insert(k.clone(), x);
        }
        if let Some(prev) = seen.insert((id.clone(), lang.clone()), n) {
            return Err(fmt(
                n,
                format!("question {id:?} [{lang}] occurs twice (first at line {prev})"),
            ));
        }
        rows.push(PerQuestion { id, lang, metrics });
        lines.push(n);
    }
    if rows.is_empty() {
        return Err(BootstrapError::Invalid(format!(
            "'{}' holds no question",
            path.display()
        )));
    }
    Ok(PerQuestionFile { path, rows, lines })
}

pub use xlqa_core::SplitMix64;

/// Options of [`paired_bootstrap`].
#[derive(Clone, Debug)]
pub struct BootstrapOptions {
    /// Number of resamples B.
    pub samples: usize,
    pub seed: u64,
    /// Compare only the questions present in both runs (else a mismatch is
    /// an error).
    pub intersect: bool,
}

impl Default for BootstrapOptions {
    fn default() -> Self {
        BootstrapOptions {
            samples: 1000,
            seed: 12345,
            intersect: false,
        }
    }
}

/// One row of the comparison (a language, "macro" or "all").
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CompareRow {
    pub scope: String,
    pub questions: usize,
    pub mean_a: f64,
    pub mean_b: f64,
    /// Observed mean A − mean B.
    pub diff: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub p_value: f64,
}

/// The report of `xlqa eval compare`.
#[derive(Clone, Debug, Serialize)]
pub struct CompareReport {
    pub metric: String,
    pub run_a: String,
    pub run_b: String,
    pub samples: usize,
    pub seed: u64,
    pub matched: usize,
    pub only_in_a: usize,
    pub only_in_b: usize,
    /// Languages in label order, then "macro" and "all".
    pub rows: Vec<CompareRow>,
    /// The matched questions with metrics `a`, `b` and `diff` (= a − b),
    /// for `per_question.jsonl`.
    #[serde(skip)]
    pub pairs: Vec<PerQuestion>,
}

/// A group of paired scores (one language).
#[derive(Clone, Debug)]
pub struct Group {
    pub name: String,
    pub a: Vec<f64>,
    pub b: Vec<f64>,
}

const EPS: f64 = 1e-12;

fn p_value(observed: f64, resampled: &[f64]) -> f64 {
    if observed.abs() <= EPS {
        return 1.0;
    }
    let against = resampled
        .iter()
        .filter(|&&d| if observed > 0.0 { d <= EPS } else { d >= -EPS })
        .count();
    (2.0 * against as f64 / resampled.len() as f64).min(1.0)
}

fn interval(resampled: &mut [f64]) -> (f64, f64) {
    resampled.sort_by(f64::total_cmp);
    let b = resampled.len();
    let k = (0.025 * b as f64).floor() as usize;
    (resampled[k], resampled[b - 1 - k])
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Stratified paired bootstrap over groups (see the module documentation):
/// one row per group, then "macro" (when there are several groups) and
/// "all". Every group must be non-empty with `a.len() == b.len()`.
pub fn bootstrap_groups(groups: &[Group], samples: usize, seed: u64) -> Vec<CompareRow> {
    let g = groups.len();
    let diffs: Vec<Vec<f64>> = groups
        .iter()
        .map(|gr| gr.a.iter().zip(&gr.b).map(|(a, b)| a - b).collect())
        .collect();
    let total: usize = diffs.iter().map(Vec::len).sum();
    let mut per_group: Vec<Vec<f64>> = vec![Vec::with_capacity(samples); g];
    let mut macro_s = Vec::with_capacity(samples);
    let mut all_s = Vec::with_capacity(samples);
    let mut rng = SplitMix64::new(seed);
    for _ in 0..samples {
        let mut all_sum = 0.0;
        let mut macro_sum = 0.0;
        for (gi, d) in diffs.iter().enumerate() {
            let n = d.len();
            let mut s = 0.0;
            for _ in 0..n {
                s += d[rng.below(n)];
            }
            all_sum += s;
            let m = s / n as f64;
            macro_sum += m;
            per_group[gi].push(m);
        }
        all_s.push(all_sum / total as f64);
        macro_s.push(macro_sum / g as f64);
    }
    let mut rows = Vec::new();
    let row = |scope: String, n: usize, ma: f64, mb: f64, d: f64, res: &mut Vec<f64>| {
        let p = p_value(d, res);
        let (lo, hi) = interval(res);
        CompareRow {
            scope,
            questions: n,
            mean_a: ma,
            mean_b: mb,
            diff: d,
            ci_low: lo,
            ci_high: hi,
            p_value: p,
        }
    };
    let mut macro_a = 0.0;
    let mut macro_b = 0.0;
    let mut macro_d = 0.0;
    for (gi, gr) in groups.iter().enumerate() {
        let (ma, mb, d) = (mean(&gr.a), mean(&gr.b), mean(&diffs[gi]));
        macro_a += ma;
        macro_b += mb;
        macro_d += d;
        rows.push(row(
            gr.name.clone(),
            gr.a.len(),
            ma,
            mb,
            d,
            &mut per_group[gi],
        ));
    }
    if g > 1 {
        let k = g as f64;
        rows.push(row(
            "macro".into(),
            total,
            macro_a / k,
            macro_b / k,
            macro_d / k,
            &mut macro_s,
        ));
    }
    let all_a: f64 = groups.iter().flat_map(|gr| &gr.a).sum::<f64>() / total as f64;
    let all_b: f64 = groups.iter().flat_map(|gr| &gr.b).sum::<f64>() / total as f64;
    let all_d: f64 = diffs.iter().flatten().sum::<f64>() / total as f64;
    rows.push(row("all".into(), total, all_a, all_b, all_d, &mut all_s));
    rows
}

/// Compares two runs on `metric` (see the module documentation).
pub fn paired_bootstrap(
    a: &PerQuestionFile,
    b: &PerQuestionFile,
    metric: &str,
    opts: &BootstrapOptions,
) -> Result<CompareReport, BootstrapError> {
    if opts.samples == 0 {
        return Err(BootstrapError::Invalid(
            "the number of resamples must be at least 1".into(),
        ));
    }
    let value = |f: &PerQuestionFile, i: usize| -> Result<f64, BootstrapError> {
        f.rows[i].metrics.get(metric).copied().ok_or_else(|| {
            let have: Vec<&str> = f.rows[i].metrics.keys().map(String::as_str).collect();
            BootstrapError::Format {
                path: f.path.clone(),
                line: f.lines[i],
                message: format!("no metric {metric:?} (this line has: {})", have.join(", ")),
            }
        })
    };
    let index_b: HashMap<(&str, &str), usize> = b
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| ((r.id.as_str(), r.lang.as_str()), i))
        .collect();
    let keys_a: HashSet<(&str, &str)> = a
        .rows
        .iter()
        .map(|r| (r.id.as_str(), r.lang.as_str()))
        .collect();
    let only_a: Vec<String> = a
        .rows
        .iter()
        .filter(|r| !index_b.contains_key(&(r.id.as_str(), r.lang.as_str())))
        .map(|r| format!("{} [{}]", r.id, r.lang))
        .collect();
    let only_b: Vec<String> = b
        .rows
        .iter()
        .filter(|r| !keys_a.contains(&(r.id.as_str(), r.lang.as_str())))
        .map(|r| format!("{} [{}]", r.id, r.lang))
        .collect();
    if !opts.intersect && (!only_a.is_empty() || !only_b.is_empty()) {
        let first = |v: &[String]| v.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
        return Err(BootstrapError::Invalid(format!(
            "the runs do not cover the same questions: {} only in '{}' (e.g. {}), {} only in '{}' (e.g. {}); pass --intersect to compare the common ones",
            only_a.len(),
            a.path.display(),
            first(&only_a),
            only_b.len(),
            b.path.display(),
            first(&only_b)
        )));
    }
    let mut groups: BTreeMap<&str, Group> = BTreeMap::new();
    let mut matched = 0usize;
    let mut pairs = Vec::new();
    for (i, r) in a.rows.iter().enumerate() {
        let Some(&j) = index_b.get(&(r.id.as_str(), r.lang.as_str())) else {
            continue;
        };
        let g = groups.entry(r.lang.as_str()).or_insert_with(|| Group {
            name: r.lang.clone(),
            a: Vec::new(),
            b: Vec::new(),
        });
        let (x, y) = (value(a, i)?, value(b, j)?);
        g.a.push(x);
        g.b.push(y);
        pairs.push(PerQuestion {
            id: r.id.clone(),
            lang: r.lang.clone(),
            metrics: [("a", x), ("b", y), ("diff", x - y)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        });
        matched += 1;
    }
    if matched == 0 {
        return Err(BootstrapError::Invalid(format!(
            "'{}' and '{}' have no question in common",
            a.path.display(),
            b.path.display()
        )));
    }
    let groups: Vec<Group> = groups.into_values().collect();
    Ok(CompareReport {
        metric: metric.to_string(),
        run_a: a.path.display().to_string(),
        run_b: b.path.display().to_string(),
        samples: opts.samples,
        seed: opts.seed,
        matched,
        only_in_a: only_a.len(),
        only_in_b: only_b.len(),
        rows: bootstrap_groups(&groups, opts.samples, opts.seed),
        pairs,
    })
}

impl CompareReport {
    /// A Markdown table (values in the units of the per-question metric).
    pub fn to_markdown(&self) -> String {
        let mut s = format!(
            "# Paired bootstrap: {}\n\nA: `{}`\nB: `{}`\n\n{} questions matched ({} only in A, {} only in B); {} resamples stratified by language, seed {}. p: two-sided, share of resamples where the sign of A − B flips, doubled (p = 0: < 1/{}).\n\n",
            self.metric,
            self.run_a,
            self.run_b,
            self.matched,
            self.only_in_a,
            self.only_in_b,
            self.samples,
            self.seed,
            self.samples
        );
        s.push_str("| scope | questions | mean A | mean B | A − B | 95% interval | p |\n");
        s.push_str("|---|---:|---:|---:|---:|---|---:|\n");
        for r in &self.rows {
            s.push_str(&format!(
                "| {} | {} | {:.4} | {:.4} | {:+.4} | [{:+.4}, {:+.4}] | {:.3} |\n",
                r.scope, r.questions, r.mean_a, r.mean_b, r.diff, r.ci_low, r.ci_high, r.p_value
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(name: &str, a: &[f64], b: &[f64]) -> Group {
        Group {
            name: name.into(),
            a: a.to_vec(),
            b: b.to_vec(),
        }
    }

    #[test]
    fn identical_runs() {
        let g = [group("en", &[1.0, 0.5, 0.0], &[1.0, 0.5, 0.0])];
        let rows = bootstrap_groups(&g, 200, 1);
        let all = rows.last().unwrap();
        assert_eq!(all.scope, "all");
        assert_eq!(
            (all.diff, all.ci_low, all.ci_high, all.p_value),
            (0.0, 0.0, 0.0, 1.0)
        );
        assert_eq!(rows.len(), 2); // one language: no macro row
    }

    #[test]
    fn better_everywhere() {
        // A beats B by 1 on every question of both languages: every resample
        // has difference exactly 1 → interval [1, 1], p = 0
        let g = [
            group("de", &[1.0, 1.0], &[0.0, 0.0]),
            group("en", &[1.0, 1.0, 1.0], &[0.0, 0.0, 0.0]),
        ];
        let rows = bootstrap_groups(&g, 500, 3);
        assert_eq!(rows.len(), 4);
        for r in &rows {
            assert_eq!(
                (r.diff, r.ci_low, r.ci_high, r.p_value),
                (1.0, 1.0, 1.0, 0.0),
                "{r:?}"
            );
        }
        // B better: negative difference, p = 0 as well
        let g = [group("en", &[0.0, 0.2], &[0.5, 0.5])];
        let r = &bootstrap_groups(&g, 100, 3)[0];
        assert!((r.diff + 0.4).abs() < 1e-12);
        assert_eq!(r.p_value, 0.0);
        assert!(r.ci_low >= -0.5 - 1e-12 && r.ci_high <= -0.3 + 1e-12);
    }

    #[test]
    fn one_question_differs() {
        // two questions, d = (1, 0): a resample's mean is 0 (both draws the
        // second), 0.5 or 1. P(mean = 0) = (1/2)² = 1/4, so p ≈ 2 · 1/4 = 0.5.
        let g = [group("en", &[1.0, 0.0], &[0.0, 0.0])];
        let r = &bootstrap_groups(&g, 20_000, 9)[0];
        assert_eq!(r.diff, 0.5);
        assert!((r.p_value - 0.5).abs() < 0.03, "{}", r.p_value);
        assert_eq!((r.ci_low, r.ci_high), (0.0, 1.0));
        // deterministic for a seed
        assert_eq!(bootstrap_groups(&g, 50, 4), bootstrap_groups(&g, 50, 4));
    }

    #[test]
    fn p_value_and_interval_by_hand() {
        // observed +0.2; resamples: 2 of 10 are ≤ 0 → p = 2·2/10 = 0.4
        let res = [0.3, -0.1, 0.2, 0.0, 0.5, 0.4, 0.1, 0.2, 0.3, 0.6];
        assert!((p_value(0.2, &res) - 0.4).abs() < 1e-12);
        // observed −0.2: 8 of 10 are ≥ 0 → min(1, 1.6) = 1
        assert_eq!(p_value(-0.2, &res), 1.0);
        // 40 values 0..39: k = ⌊0.025·40⌋ = 1 → [v[1], v[38]]
        let mut v: Vec<f64> = (0..40).rev().map(f64::from).collect();
        assert_eq!(interval(&mut v), (1.0, 38.0));
    }

    #[test]
    fn files_and_matching() {
        let dir = std::env::temp_dir().join(format!("xlqa-bootstrap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = dir.join("a.jsonl");
        let b = dir.join("b.jsonl");
        std::fs::write(
            &a,
            "{\"id\":\"1\",\"lang\":\"en\",\"metrics\":{\"f1\":1.0}}\n{\"id\":\"2\",\"lang\":\"en\",\"metrics\":{\"f1\":0.5}}\n",
        )
        .unwrap();
        std::fs::write(
            &b,
            "{\"id\":\"2\",\"lang\":\"en\",\"metrics\":{\"f1\":0.5}}\n{\"id\":\"3\",\"lang\":\"en\",\"metrics\":{\"f1\":0.0}}\n",
        )
        .unwrap();
        let fa = read_per_question(&a).unwrap();
        let fb = read_per_question(&b).unwrap();
        let msg = paired_bootstrap(&fa, &fb, "f1", &BootstrapOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("1 only in") && msg.contains("1 [en]") && msg.contains("3 [en]"),
            "{msg}"
        );
        let opts = BootstrapOptions {
            intersect: true,
            ..BootstrapOptions::default()
        };
        let r = paired_bootstrap(&fa, &fb, "f1", &opts).unwrap();
        assert_eq!((r.matched, r.only_in_a, r.only_in_b), (1, 1, 1));
        assert_eq!(r.rows.last().unwrap().p_value, 1.0);
        let msg = paired_bootstrap(&fa, &fb, "em", &opts)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("a.jsonl' line 2") && msg.contains("has: f1"),
            "{msg}"
        );

        std::fs::write(
            &b,
            "{\"id\":\"2\",\"lang\":\"en\",\"metrics\":{\"f1\":\"x\"}}\n",
        )
        .unwrap();
        let msg = read_per_question(&b).unwrap_err().to_string();
        assert!(
            msg.contains("b.jsonl' line 1") && msg.contains("metrics.f1"),
            "{msg}"
        );
        std::fs::write(&b, "{\"id\":\"2\",\"lang\":\"en\",\"metrics\":{}}\n\n{\"id\":\"2\",\"lang\":\"en\",\"metrics\":{}}\n").unwrap();
        let msg = read_per_question(&b).unwrap_err().to_string();
        assert!(
            msg.contains("line 3") && msg.contains("first at line 1"),
            "{msg}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
