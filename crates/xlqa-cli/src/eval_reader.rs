//! `xlqa eval reader`: the span reader with the gold paragraph given.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use xlqa_core::progress::bar;
use xlqa_data::squad as datasets;
use xlqa_eval::reading::{self, ReadingItem};
use xlqa_models::span::SpanReader;

#[derive(Clone, Copy, ValueEnum)]
pub enum ReadingSet {
    /// XQuAD, 12 languages (1,190 questions each).
    Xquad,
    /// TyDi QA GoldP dev, 9 languages.
    Tydi,
}

#[derive(Args)]
pub struct EvalReaderArgs {
    #[arg(long, value_enum)]
    dataset: ReadingSet,
    /// The shared data folder (default: $XLQA_DATA or ../shared/data).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Only the first N questions per language.
    #[arg(long)]
    limit: Option<usize>,
    /// XQuAD: also every question-language × paragraph-language pair.
    #[arg(long)]
    matrix: bool,
    /// Questions per cross-lingual pair of the matrix.
    #[arg(long, default_value_t = 100)]
    matrix_limit: usize,
    /// Report folder: report.json, report.md, per_question.jsonl, predictions.jsonl.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    reader: crate::ReaderArgs,
    #[arg(long)]
    quiet: bool,
}

/// Reads every item (batched) and returns the predicted answers.
pub fn predict(
    reader: &SpanReader,
    items: &[ReadingItem],
    what: &str,
    show: bool,
) -> Result<Vec<String>> {
    let pb = bar(items.len() as u64, what, show);
    let mut out = Vec::with_capacity(items.len());
    for chunk in items.chunks(16) {
        let pairs: Vec<(&str, &str)> = chunk
            .iter()
            .map(|i| (i.question.as_str(), i.context.as_str()))
            .collect();
        let answers = reader.read_pairs(&pairs)?;
        out.extend(
            answers
                .into_iter()
                .map(|a| a.map(|a| a.text).unwrap_or_default()),
        );
        pb.inc(chunk.len() as u64);
    }
    pb.finish_and_clear();
    Ok(out)
}

pub fn run(a: EvalReaderArgs) -> Result<()> {
    let t0 = Instant::now();
    let show = !a.quiet;
    let data = crate::data_dir(a.data.clone())?;
    let reader = crate::load_span_reader(&a.reader)?;
    let (name, examples) = match a.dataset {
        ReadingSet::Xquad => ("xquad", datasets::read_xquad_dir(&data.join("xquad"))?),
        ReadingSet::Tydi => (
            "tydi-goldp-dev",
            datasets::read_tydi_goldp_dev_dir(&data.join("tydiqa_goldp_v1.1"))?,
        ),
    };
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let items = reading::monolingual_items(&examples, a.limit);
    let t_read = Instant::now();
    let preds = predict(&reader, &items, "reading", show)?;
    let read_s = t_read.elapsed().as_secs_f64();
    let scores = reading::score(&items, &preds);
    let (rows, avg) = reading::by_label(&items, &scores);
    let mut per_q = reading::per_question(&items, &scores);
    let mut pred_rows: Vec<serde_json::Value> = items
        .iter()
        .zip(&preds)
        .map(|(i, p)| serde_json::json!({"id": i.id, "lang": i.pair_label(), "prediction": p}))
        .collect();

    let mut md = format!(
        "# Span reader, gold paragraph: {name}\n\nReader: `{}` ({} trained layers on {} frozen).\n\n\
         | lang | questions | EM | F1 |\n|---|---|---|---|\n",
        reader.meta().weights_sha256,
        reader.meta().trained_layers,
        reader.meta().lower_layers
    );
    for r in &rows {
        md.push_str(&format!(
            "| {} | {} | {:.1} | {:.1} |\n",
            r.label, r.questions, r.em, r.f1
        ));
    }
    md.push_str(&format!(
        "| **macro avg** | {} | {:.1} | {:.1} |\n",
        avg.questions, avg.em, avg.f1
    ));
    let mut report = serde_json::json!({
        "dataset": name,
        "reader": reader.meta(),
        "limit_per_lang": a.limit,
        "languages": rows,
        "macro_avg": avg,
        "read_seconds": read_s,
        "questions_per_second": items.len() as f64 / read_s.max(1e-9),
    });
    if a.matrix {
        let (section, json) = matrix(&reader, &examples, &a, &rows, &mut per_q, &mut pred_rows)?;
        md.push_str(&section);
        report["matrix"] = json;
    }
    report["total_seconds"] = serde_json::json!(t0.elapsed().as_secs_f64());
    write_outputs(&a.out, &report, &md, &per_q, &pred_rows)?;
    print!("{md}");
    if show {
        eprintln!(
            "wrote {} ({:.0} s)",
            a.out.display(),
            t0.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Every question-language × paragraph-language pair: the markdown section
/// and the report's `matrix`; its rows join `per_q` and `pred_rows`.
fn matrix(
    reader: &SpanReader,
    examples: &[xlqa_data::squad::QaExample],
    a: &EvalReaderArgs,
    rows: &[reading::GroupScore],
    per_q: &mut Vec<xlqa_eval::bootstrap::PerQuestion>,
    pred_rows: &mut Vec<serde_json::Value>,
) -> Result<(String, serde_json::Value)> {
    let cross = reading::cross_items(examples, Some(a.matrix_limit));
    let cp = predict(reader, &cross, "matrix", !a.quiet)?;
    let cs = reading::score(&cross, &cp);
    let (crow, cavg) = reading::by_label(&cross, &cs);
    per_q.extend(reading::per_question(&cross, &cs));
    pred_rows.extend(
        cross
            .iter()
            .zip(&cp)
            .map(|(i, p)| serde_json::json!({"id": i.id, "lang": i.pair_label(), "prediction": p})),
    );
    let mut all = rows.to_vec();
    all.extend(crow.iter().cloned());
    let md = format!(
        "\n## Cross-lingual matrix (F1; rows: question language, columns: paragraph \
         language; diagonal: all questions, off-diagonal: first {} per pair)\n\n{}\n\
         Cross-lingual pairs macro average: EM {:.1}, F1 {:.1} ({} questions).\n",
        a.matrix_limit,
        reading::matrix_markdown(&all),
        cavg.em,
        cavg.f1,
        cavg.questions
    );
    let json = serde_json::json!({"pairs": crow, "cross_macro_avg": cavg,
        "per_pair_limit": a.matrix_limit});
    Ok((md, json))
}

/// report.json, report.md, per_question.jsonl and predictions.jsonl in `out`.
fn write_outputs(
    out: &Path,
    report: &serde_json::Value,
    md: &str,
    per_q: &[xlqa_eval::bootstrap::PerQuestion],
    pred_rows: &[serde_json::Value],
) -> Result<()> {
    let write = |file: &str, bytes: &[u8]| -> Result<()> {
        let p = out.join(file);
        std::fs::write(&p, bytes).with_context(|| format!("writing {}", p.display()))
    };
    write(
        "report.json",
        (serde_json::to_string_pretty(report)? + "\n").as_bytes(),
    )?;
    write("report.md", md.as_bytes())?;
    let mut buf = Vec::new();
    xlqa_eval::bootstrap::write_per_question(&mut buf, per_q)?;
    write("per_question.jsonl", &buf)?;
    let mut pf = Vec::new();
    for r in pred_rows {
        serde_json::to_writer(&mut pf, r)?;
        pf.write_all(b"\n")?;
    }
    write("predictions.jsonl", &pf)
}

#[derive(Args)]
pub struct EvalReaderOpenArgs {
    /// Index of the XQuAD pool built from `xlqa eval xquad-collection`
    /// (whose paragraphs carry a shared `group` per parallel paragraph).
    #[arg(long)]
    index: PathBuf,
    #[arg(long)]
    data: Option<PathBuf>,
    /// Only the first N questions per language.
    #[arg(long)]
    limit: Option<usize>,
    /// Passages read per question.
    #[arg(long, default_value_t = 5)]
    read_top: usize,
    /// Weight of the retrieval score in the answer score (as `ask`).
    #[arg(long, default_value_t = 2.0)]
    retrieval_weight: f32,
    /// Do not carry answers into linked passages (the ablation).
    #[arg(long)]
    no_project: bool,
    /// Where the span is read: sentence (the evidence sentence, as `ask`
    /// by default) or passages (best span score over the top passages).
    #[arg(long, default_value = "passages")]
    span_evidence: xlqa_search::SpanEvidence,
    /// Which settings to run: all (whole pool), own-removed, or both.
    #[arg(long, default_value = "both")]
    setting: String,
    /// Report folder: report.json, report.md, rows_all.jsonl, rows_own_removed.jsonl.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    reader: crate::ReaderArgs,
    #[arg(long)]
    quiet: bool,
}

pub fn run_open(a: EvalReaderOpenArgs) -> Result<()> {
    let t0 = Instant::now();
    let data = crate::data_dir(a.data.clone())?;
    let examples = datasets::read_xquad_dir(&data.join("xquad"))?;
    let engine = crate::open_engine(
        &a.index,
        &crate::EncoderArgs {
            batch_size: 32,
            precision: None,
            encoder: None,
        },
        "span",
        &a.reader,
    )?;
    if !engine.index().store.iter().any(|p| p.group.is_some()) {
        anyhow::bail!(
            "index {} has no linked passages (no `group`): rebuild it from a fresh \
             `xlqa eval xquad-collection`",
            a.index.display()
        );
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let opts = xlqa_search::AskOptions {
        retrieve: xlqa_search::RetrieveOptions {
            k: a.read_top,
            ..xlqa_search::RetrieveOptions::default()
        },
        reader: "span".into(),
        read_top: a.read_top,
        retrieval_weight: a.retrieval_weight,
        project: !a.no_project,
        span_evidence: a.span_evidence,
        ..xlqa_search::AskOptions::default()
    };
    let mut md = format!(
        "# Span reader on the XQuAD open pool ({} passages)\n\nTop {} passages read (hybrid \
         retrieval), retrieval weight {}, projection {}.\n",
        engine.index().store.len(),
        a.read_top,
        a.retrieval_weight,
        if a.no_project { "off" } else { "on" }
    );
    let mut report = serde_json::json!({"limit_per_lang": a.limit, "read_top": a.read_top,
        "retrieval_weight": a.retrieval_weight, "project": !a.no_project,
        "span_evidence": a.span_evidence,
        "reader": engine_reader_meta(&a.reader)?});
    let settings: Vec<(bool, &str)> = match a.setting.as_str() {
        "both" => vec![(false, "all"), (true, "own_removed")],
        "all" => vec![(false, "all")],
        "own-removed" => vec![(true, "own_removed")],
        other => anyhow::bail!("--setting: '{other}' (expected all, own-removed or both)"),
    };
    for (own_removed, name) in settings {
        let ctx = OpenRun {
            engine: &engine,
            examples: &examples,
            opts: &opts,
            a: &a,
        };
        let (section, json) = run_setting(&ctx, own_removed, name)?;
        md.push_str(&section);
        report[name] = json;
    }
    report["total_seconds"] = serde_json::json!(t0.elapsed().as_secs_f64());
    std::fs::write(
        a.out.join("report.json"),
        serde_json::to_string_pretty(&report)? + "\n",
    )?;
    std::fs::write(a.out.join("report.md"), &md)?;
    print!("{md}");
    Ok(())
}

struct OpenRun<'a> {
    engine: &'a xlqa_search::Engine,
    examples: &'a [xlqa_data::squad::QaExample],
    opts: &'a xlqa_search::AskOptions,
    a: &'a EvalReaderOpenArgs,
}

/// One setting (whole pool or own language removed): reads every question,
/// writes rows_<name>.jsonl and per_question_<name>.jsonl, and returns the
/// report's markdown section and JSON.
fn run_setting(c: &OpenRun, own_removed: bool, name: &str) -> Result<(String, serde_json::Value)> {
    let pb = std::cell::RefCell::new(None);
    let progress = |d: usize, t: usize| {
        pb.borrow_mut()
            .get_or_insert_with(|| bar(t as u64, name, !c.a.quiet))
            .set_position(d as u64);
    };
    let t = Instant::now();
    let rows = reading::read_open(
        c.engine,
        c.examples,
        c.a.limit,
        own_removed,
        c.opts,
        &progress,
    )?;
    if let Some(pb) = pb.borrow().as_ref() {
        pb.finish_and_clear();
    }
    let secs = t.elapsed().as_secs_f64();
    let (per, avg) = reading::summarize_open(&rows);
    let mut md = format!(
        "\n## {}\n\n| lang | questions | EM | F1 | answer in question's language % | projected % |\n|---|---|---|---|---|---|\n",
        if own_removed {
            "Question's own language removed from retrieval"
        } else {
            "Whole pool"
        }
    );
    for r in per.iter().chain(std::iter::once(&avg)) {
        md.push_str(&format!(
            "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
            r.label, r.questions, r.em, r.f1, r.in_question_lang, r.projected
        ));
    }
    md.push_str(&format!(
        "\n{:.0} s, {:.2} s per question.\n",
        secs,
        secs / rows.len().max(1) as f64
    ));
    let mut buf = Vec::new();
    for r in &rows {
        serde_json::to_writer(&mut buf, r)?;
        buf.write_all(b"\n")?;
    }
    let p = c.a.out.join(format!("rows_{name}.jsonl"));
    std::fs::write(&p, buf).with_context(|| format!("writing {}", p.display()))?;
    let pq: Vec<xlqa_eval::bootstrap::PerQuestion> = rows
        .iter()
        .map(|r| xlqa_eval::reading::em_f1_row(&r.id, &r.lang, r.em, r.f1))
        .collect();
    let mut buf = Vec::new();
    xlqa_eval::bootstrap::write_per_question(&mut buf, &pq)?;
    let p = c.a.out.join(format!("per_question_{name}.jsonl"));
    std::fs::write(&p, buf).with_context(|| format!("writing {}", p.display()))?;
    Ok((
        md,
        serde_json::json!({"languages": per, "macro_avg": avg, "seconds": secs}),
    ))
}

fn engine_reader_meta(a: &crate::ReaderArgs) -> Result<serde_json::Value> {
    let dir = crate::span_reader_dir(a)?;
    let p = dir.join("reader.json");
    let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)?;
    Ok(serde_json::json!({"weights_sha256": v["weights_sha256"], "dir": dir}))
}
