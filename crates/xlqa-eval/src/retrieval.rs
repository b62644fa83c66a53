//! Open-retrieval evaluation on the XQuAD pool: all 2,880 paragraphs of the
//! 12 XQuAD languages form one collection; every question of every language
//! is asked against it.
//!
//! Hits (CORA, Asai et al. 2021, Table 5 conventions):
//! - **R^L@k**: a top-k passage contains the gold answer string in the
//!   question's language;
//! - **R^multi@k**: a top-k passage in language M contains the gold answer
//!   of the parallel question in M (XQuAD is fully parallel, so every
//!   language has the answer);
//! - **R^para@k**: a top-k passage comes from the question's own paragraph
//!   in any language (the parallel paragraphs share the question id).
//!
//! Each is reported with the whole pool and with the question's own
//! language removed (the truly cross-lingual setting).

use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;
use std::time::Instant;
use xlqa_core::{Lang, Question, StageTimings};
use xlqa_data::squad::{read_xquad_dir, QaExample};
use xlqa_search::{AskOptions, Engine, RetrieveOptions, RetrieverChoice};

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Data(#[from] xlqa_data::DataError),
    #[error(transparent)]
    Search(#[from] xlqa_search::SearchError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The index does not fit the evaluation (not an XQuAD pool).
    #[error("{0}")]
    Index(String),
}

/// Document id of XQuAD paragraph `n` (in order of appearance) of `lang`.
fn para_id(lang: &Lang, n: usize) -> String {
    format!("xquad.{lang}.{n:03}")
}

/// Paragraph numbering: (lang, context) → n.
fn paragraphs(examples: &[QaExample]) -> HashMap<(Lang, String), usize> {
    let mut map: HashMap<(Lang, String), usize> = HashMap::new();
    let mut next: HashMap<Lang, usize> = HashMap::new();
    for e in examples {
        let key = (e.lang.clone(), e.context.clone());
        if let std::collections::hash_map::Entry::Vacant(v) = map.entry(key) {
            let n = next.entry(e.lang.clone()).or_default();
            v.insert(*n);
            *n += 1;
        }
    }
    map
}

/// Writes the XQuAD pool as an xlqa collection (`lang` given, title = the
/// article title with `_` as spaces, `group` shared by the parallel
/// versions of a paragraph). Returns the number of paragraphs.
pub fn write_xquad_collection(xquad_dir: &Path, out: &Path) -> Result<usize, EvalError> {
    let examples = read_xquad_dir(xquad_dir)?;
    let paras = paragraphs(&examples);
    let mut seen = std::collections::HashSet::new();
    let f = std::fs::File::create(out).map_err(|e| EvalError::Io {
        path: out.display().to_string(),
        source: e,
    })?;
    let mut w = std::io::BufWriter::new(f);
    let io = |e| EvalError::Io {
        path: out.display().to_string(),
        source: e,
    };
    for e in &examples {
        let n = paras[&(e.lang.clone(), e.context.clone())];
        if seen.insert((e.lang.clone(), n)) {
            // parallel paragraphs share their questions' ids: the first one
            // links the 12 versions of a paragraph (the `group`)
            let doc = serde_json::json!({
                "id": para_id(&e.lang, n),
                "title": e.title.replace('_', " "),
                "text": e.context,
                "lang": e.lang.as_str(),
                "group": format!("xquad-{}", e.id),
            });
            writeln!(w, "{doc}").map_err(io)?;
        }
    }
    w.flush().map_err(io)?;
    Ok(seen.len())
}

pub struct XquadOpenOptions {
    pub limit_per_lang: Option<usize>,
    /// Questions timed end to end with `ask` (language ID + sentence reader).
    pub reader_sample: usize,
    pub progress: bool,
}

pub const KS: [usize; 3] = [1, 5, 20];

/// Recall@{1,5,20} for one (retriever, setting, question language).
#[derive(Clone, Debug, Default, Serialize)]
pub struct RecallRow {
    pub n: usize,
    pub r_l: [f64; 3],
    pub r_multi: [f64; 3],
    pub r_para: [f64; 3],
}

#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    pub retriever: String,
    /// "all" or "own-language-removed".
    pub setting: String,
    pub per_lang: BTreeMap<String, RecallRow>,
    /// Macro average over question languages.
    pub average: RecallRow,
    /// Question language → passage language → share of the top-20.
    pub top20_lang_share: BTreeMap<String, BTreeMap<String, f64>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LatencyRow {
    pub stage: String,
    pub p50_ms: f64,
    pub p95_ms: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct XquadOpenReport {
    pub questions: usize,
    pub passages: usize,
    pub encode_questions_s: f64,
    pub runs: Vec<RunReport>,
    /// `retrieve` only (questions pre-embedded), per retriever, p50/p95 ms.
    pub retrieve_latency: BTreeMap<String, Vec<LatencyRow>>,
    /// End-to-end `ask` (language ID, encode, hybrid retrieval, sentence reader).
    pub ask_latency: Vec<LatencyRow>,
    pub ask_sample: usize,
}

fn norm(s: &str) -> String {
    s.to_lowercase()
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() - 1) as f64 * p).round() as usize;
    v[i]
}

fn latency_rows(ts: &[StageTimings]) -> Vec<LatencyRow> {
    type Stage = (&'static str, fn(&StageTimings) -> f64);
    let stages: [Stage; 7] = [
        ("language id", |t| t.lang_id_ms),
        ("encode", |t| t.encode_ms),
        ("dense search", |t| t.dense_ms),
        ("lexical search", |t| t.lexical_ms),
        ("fuse", |t| t.fuse_ms),
        ("read", |t| t.read_ms),
        ("total", |t| t.total_ms),
    ];
    stages
        .iter()
        .map(|(name, f)| {
            let mut v: Vec<f64> = ts.iter().map(f).collect();
            LatencyRow {
                stage: name.to_string(),
                p50_ms: percentile(&mut v, 0.5),
                p95_ms: percentile(&mut v, 0.95),
            }
        })
        .collect()
}

/// Runs the evaluation. The engine's index must have been built from
/// [`write_xquad_collection`] of the same data.
pub fn evaluate_xquad_open(
    engine: &Engine,
    xquad_dir: &Path,
    opts: &XquadOpenOptions,
) -> Result<XquadOpenReport, EvalError> {
    let examples = read_xquad_dir(xquad_dir)?;
    let paras = paragraphs(&examples);
    // qid → lang → (answers normalized, paragraph doc id)
    let mut gold: HashMap<String, HashMap<Lang, (Vec<String>, String)>> = HashMap::new();
    for e in &examples {
        let n = paras[&(e.lang.clone(), e.context.clone())];
        gold.entry(e.id.clone()).or_default().insert(
            e.lang.clone(),
            (
                e.answers.iter().map(|a| norm(a)).collect(),
                para_id(&e.lang, n),
            ),
        );
    }
    // questions, limited per language
    let mut per_lang_count: HashMap<Lang, usize> = HashMap::new();
    let questions: Vec<&QaExample> = examples
        .iter()
        .filter(|e| {
            let c = per_lang_count.entry(e.lang.clone()).or_default();
            *c += 1;
            opts.limit_per_lang.is_none_or(|l| *c <= l)
        })
        .collect();
    // a copy: the engine's index is read-locked by each retrieval below
    let store: Vec<xlqa_core::Passage> = engine.index().store.iter().cloned().collect();
    let norm_text: Vec<String> = store.iter().map(|p| norm(&p.text)).collect();
    if !store.iter().any(|p| p.doc_id.starts_with("xquad.")) {
        return Err(EvalError::Index(format!(
            "index {} was not built from `xlqa eval xquad-collection` (no xquad.* documents)",
            engine.index().dir.display()
        )));
    }

    let t = Instant::now();
    let texts: Vec<&str> = questions.iter().map(|e| e.question.as_str()).collect();
    let mut embs = Vec::with_capacity(texts.len());
    let chunk = 256;
    for (i, c) in texts.chunks(chunk).enumerate() {
        embs.extend(engine.corpus().embed_questions(c)?);
        if opts.progress {
            eprint!(
                "\rencoding questions {}/{}",
                (i * chunk + c.len()),
                texts.len()
            );
        }
    }
    if opts.progress {
        eprintln!();
    }
    let encode_questions_s = t.elapsed().as_secs_f64();

    let mut runs = Vec::new();
    let mut retrieve_latency = BTreeMap::new();
    for retriever in [
        RetrieverChoice::bm25(),
        RetrieverChoice::dense(),
        RetrieverChoice::Hybrid,
    ] {
        for own_removed in [false, true] {
            let mut rows: BTreeMap<String, RecallRow> = BTreeMap::new();
            let mut share: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
            let mut timings = Vec::new();
            for (qi, (q, emb)) in questions.iter().zip(&embs).enumerate() {
                let ropts = RetrieveOptions {
                    retriever: retriever.clone(),
                    k: 20,
                    depth: 100,
                    exclude_langs: if own_removed {
                        vec![q.lang.clone()]
                    } else {
                        vec![]
                    },
                    ..RetrieveOptions::default()
                };
                let mut tm = StageTimings::default();
                let t = Instant::now();
                let (hits, _) =
                    engine.retrieve(&q.question, &q.lang, Some(emb), &ropts, &mut tm)?;
                tm.total_ms = t.elapsed().as_secs_f64() * 1000.0;
                timings.push(tm);
                let g = &gold[&q.id];
                let own_answers = &g[&q.lang].0;
                let row = rows.entry(q.lang.to_string()).or_default();
                row.n += 1;
                let mut first = [usize::MAX; 3]; // first rank of a hit: r_l, r_multi, r_para
                for (rank, h) in hits.iter().enumerate() {
                    let Some(p) = store.get(h.passage as usize) else {
                        continue;
                    };
                    let text = &norm_text[h.passage as usize];
                    if first[0] == usize::MAX
                        && own_answers.iter().any(|a| text.contains(a.as_str()))
                    {
                        first[0] = rank;
                    }
                    if let Some((ans, pid)) = g.get(&p.lang) {
                        if first[1] == usize::MAX && ans.iter().any(|a| text.contains(a.as_str())) {
                            first[1] = rank;
                        }
                        if first[2] == usize::MAX && &p.doc_id == pid {
                            first[2] = rank;
                        }
                    }
                    *share
                        .entry(q.lang.to_string())
                        .or_default()
                        .entry(p.lang.to_string())
                        .or_default() += 1.0;
                }
                for (ki, k) in KS.iter().enumerate() {
                    row.r_l[ki] += f64::from(u8::from(first[0] < *k));
                    row.r_multi[ki] += f64::from(u8::from(first[1] < *k));
                    row.r_para[ki] += f64::from(u8::from(first[2] < *k));
                }
                if opts.progress && qi % 500 == 0 {
                    eprint!(
                        "\r{} {} {}/{}",
                        retriever.as_str(),
                        if own_removed {
                            "(own removed)"
                        } else {
                            "(all)"
                        },
                        qi,
                        questions.len()
                    );
                }
            }
            if opts.progress {
                eprintln!();
            }
            let mut avg = RecallRow::default();
            for row in rows.values_mut() {
                let n = row.n.max(1) as f64;
                for ki in 0..3 {
                    row.r_l[ki] /= n;
                    row.r_multi[ki] /= n;
                    row.r_para[ki] /= n;
                    avg.r_l[ki] += row.r_l[ki];
                    avg.r_multi[ki] += row.r_multi[ki];
                    avg.r_para[ki] += row.r_para[ki];
                }
                avg.n += row.n;
            }
            let nl = rows.len().max(1) as f64;
            for ki in 0..3 {
                avg.r_l[ki] /= nl;
                avg.r_multi[ki] /= nl;
                avg.r_para[ki] /= nl;
            }
            for m in share.values_mut() {
                let total: f64 = m.values().sum();
                for v in m.values_mut() {
                    *v /= total.max(1.0);
                }
            }
            if !own_removed {
                retrieve_latency.insert(retriever.as_str().to_string(), latency_rows(&timings));
            }
            runs.push(RunReport {
                retriever: retriever.as_str().to_string(),
                setting: if own_removed {
                    "own-language-removed"
                } else {
                    "all"
                }
                .to_string(),
                per_lang: rows,
                average: avg,
                top20_lang_share: share,
            });
        }
    }

    // end-to-end ask latency on a sample spread over the languages
    let step = (questions.len() / opts.reader_sample.max(1)).max(1);
    let mut ask_t = Vec::new();
    for q in questions.iter().step_by(step).take(opts.reader_sample) {
        let question = Question {
            id: q.id.clone(),
            question: q.question.clone(),
            lang: None,
        };
        let r = engine.ask(
            &question,
            &AskOptions {
                reader: "sentence".into(),
                ..AskOptions::default()
            },
        )?;
        ask_t.push(r.timings);
    }
    Ok(XquadOpenReport {
        questions: questions.len(),
        passages: store.len(),
        encode_questions_s,
        runs,
        retrieve_latency,
        ask_sample: ask_t.len(),
        ask_latency: latency_rows(&ask_t),
    })
}

impl XquadOpenReport {
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let f = |x: f64| format!("{:.3}", x);
        s += &format!(
            "XQuAD open pool: {} questions against {} passages (questions encoded in {:.1} s)\n\n",
            self.questions, self.passages, self.encode_questions_s
        );
        for run in &self.runs {
            s += &format!("### {} — {}\n\n", run.retriever, run.setting);
            s += "| q lang | n | R^L@1 | R^L@5 | R^L@20 | R^multi@1 | R^multi@5 | R^multi@20 | R^para@1 | R^para@5 | R^para@20 |\n";
            s += "|---|---|---|---|---|---|---|---|---|---|---|\n";
            let mut rows: Vec<(&String, &RecallRow)> = run.per_lang.iter().collect();
            let avg_name = "avg".to_string();
            rows.push((&avg_name, &run.average));
            for (l, r) in rows {
                s += &format!(
                    "| {l} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                    r.n,
                    f(r.r_l[0]),
                    f(r.r_l[1]),
                    f(r.r_l[2]),
                    f(r.r_multi[0]),
                    f(r.r_multi[1]),
                    f(r.r_multi[2]),
                    f(r.r_para[0]),
                    f(r.r_para[1]),
                    f(r.r_para[2])
                );
            }
            s += "\n";
            // language distribution of the top-20
            let langs: Vec<&String> = {
                let mut v: Vec<&String> = run
                    .top20_lang_share
                    .values()
                    .flat_map(|m| m.keys())
                    .collect();
                v.sort();
                v.dedup();
                v
            };
            s += &format!("Top-20 language distribution ({} — {}), rows: question language\n\n| q \\ passage |", run.retriever, run.setting);
            for l in &langs {
                s += &format!(" {l} |");
            }
            s += "\n|---|";
            for _ in &langs {
                s += "---|";
            }
            s += "\n";
            for (ql, m) in &run.top20_lang_share {
                s += &format!("| {ql} |");
                for l in &langs {
                    s += &format!(" {:.2} |", m.get(*l).copied().unwrap_or(0.0));
                }
                s += "\n";
            }
            s += "\n";
        }
        s += "### Retrieval latency (questions pre-embedded), ms\n\n| retriever | stage | p50 | p95 |\n|---|---|---|---|\n";
        for (r, rows) in &self.retrieve_latency {
            for row in rows.iter().filter(|x| x.p95_ms > 0.0) {
                s += &format!(
                    "| {r} | {} | {:.2} | {:.2} |\n",
                    row.stage, row.p50_ms, row.p95_ms
                );
            }
        }
        s += &format!(
            "\n### End-to-end `ask` latency (hybrid, sentence reader over the top 5, language detected), {} questions, ms\n\n| stage | p50 | p95 |\n|---|---|---|\n",
            self.ask_sample
        );
        for row in &self.ask_latency {
            s += &format!(
                "| {} | {:.2} | {:.2} |\n",
                row.stage, row.p50_ms, row.p95_ms
            );
        }
        s
    }
}
