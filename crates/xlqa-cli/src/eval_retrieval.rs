//! `xlqa eval retrieval`: open-retrieval metrics over an xlqa index —
//! Recall@k / nDCG@10 / MRR@10 from TREC qrels, CORA's R^L@k / R^multi@k
//! and XOR-TyDi's R@2kt / R@5kt from gold answers (definitions:
//! `xlqa_eval::openeval`).

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::FusionArgs;
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use xlqa_core::{Lang, Passage};
use xlqa_data::gold::{read_gold, GoldFormat, GoldOptions, GoldPurpose};
use xlqa_eval::openeval::{
    evaluate, read_qrels, read_run, resolve_qrels, resolve_run, retrieve_all, EvalInput,
    EvalOptions,
};
use xlqa_search::{RetrieveOptions, RetrieverChoice};

/// The gold formats retrieval evaluation reads (SQuAD and TyDi files are
/// read for answer scoring only).
fn retrieval_gold_format(s: &str) -> std::result::Result<GoldFormat, String> {
    match s {
        "auto" | "xor" | "mia" | "mkqa" | "xquad" | "questions" => s.parse(),
        other => Err(format!(
            "unknown gold format \"{other}\": expected auto, xor, mkqa, xquad or questions"
        )),
    }
}

#[derive(Args)]
pub struct RetrievalArgs {
    /// The index directory (built with `xlqa index`).
    #[arg(long)]
    index: PathBuf,
    /// Gold questions: XOR-TyDi/MIA JSONL, MKQA JSONL (.gz too), an XQuAD
    /// folder, or an xlqa questions JSONL with "lang" (for qrels only).
    #[arg(long)]
    gold: PathBuf,
    /// auto, xor, mkqa, xquad or questions.
    #[arg(long, default_value = "auto", value_parser = retrieval_gold_format)]
    gold_format: GoldFormat,
    /// Language of the answers of an xor/MIA file (default: the question's;
    /// `en` for files named *eng_span*, as XOR-Retrieve's English answers).
    #[arg(long)]
    answers_lang: Option<Lang>,
    /// TREC qrels (`qid iter docno rel`; docno = passage id, or document id
    /// to judge every passage of a document). Without it Recall/nDCG/MRR are skipped.
    #[arg(long)]
    qrels: Option<PathBuf>,
    /// Evaluate this TREC run (`qid Q0 passage-id rank score tag`) instead
    /// of retrieving now. Topic ids: the question id, or `<lang>:<id>` when
    /// the id is shared by several languages.
    #[arg(long)]
    run: Option<PathBuf>,
    /// bm25, dense or hybrid (when retrieving now).
    #[arg(long, default_value = "hybrid")]
    retriever: RetrieverChoice,
    /// Passages retrieved per question (and candidates per retriever before fusion).
    #[arg(long, default_value_t = 100)]
    depth: usize,
    #[command(flatten)]
    fusion: FusionArgs,
    /// Never retrieve passages in these languages (comma-separated).
    #[arg(long, value_delimiter = ',')]
    exclude_lang: Vec<Lang>,
    /// Also remove each question's own language from the pool (the
    /// cross-lingual setting: the evidence must come from other languages).
    #[arg(long)]
    exclude_own_lang: bool,
    /// The k of Recall@k, R^L@k and R^multi@k (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,5,20,100")]
    k: Vec<usize>,
    /// Token budgets of R@kt (XOR-TyDi: 2000,5000).
    #[arg(long, value_delimiter = ',', default_value = "2000,5000")]
    budgets: Vec<usize>,
    /// Only the first N questions of each language.
    #[arg(long)]
    limit: Option<usize>,
    /// Write report.md, report.json and per_question.jsonl here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Texts per encoder batch.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Encoder arithmetic: int8 (default), f32 or q4 (see `xlqa index --help`).
    #[arg(long)]
    precision: Option<xlqa_models::Precision>,
    /// No progress display.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(a: RetrievalArgs) -> Result<()> {
    if a.k.is_empty() || a.k.contains(&0) {
        bail!("--k must list positive numbers, e.g. --k 1,5,20,100");
    }
    if a.budgets.contains(&0) {
        bail!("--budgets must list positive token counts, e.g. --budgets 2000,5000");
    }
    if a.run.is_some() && (a.exclude_own_lang || !a.exclude_lang.is_empty()) {
        bail!("--exclude-lang / --exclude-own-lang apply when retrieving; a --run file is scored as it is");
    }
    let max_k = a.k.iter().copied().max().unwrap_or(1);
    if a.run.is_none() && max_k > a.depth {
        bail!(
            "--k goes up to {max_k} but --depth is {}: retrieve at least as many passages as the largest k",
            a.depth
        );
    }
    let mut notes: Vec<String> = Vec::new();
    // gold
    let mut answers_lang = a.answers_lang.clone();
    let name = a
        .gold
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if answers_lang.is_none() && (name.contains("eng_span") || name.contains("engspan")) {
        answers_lang = Some(Lang::parse("en")?);
        notes.push(format!(
            "{}: XOR-Retrieve EnglishSpan file: its answers are taken as English (override with --answers-lang)",
            a.gold.display()
        ));
    }
    let mut gold = read_gold(
        &a.gold,
        &GoldOptions {
            purpose: GoldPurpose::Passages,
            format: a.gold_format,
            lang: None,
            answers_lang: answers_lang.clone(),
        },
    )?;
    notes.append(&mut gold.notes);
    let read = gold.items.len();
    if let Some(n) = a.limit {
        gold.limit_per_lang(n);
    }
    for n in &notes {
        eprintln!("note: {n}");
    }

    // rankings
    let mut setup = BTreeMap::new();
    setup.insert("index".to_string(), a.index.display().to_string());
    setup.insert(
        "gold".to_string(),
        format!(
            "{} ({}, {} questions read{})",
            a.gold.display(),
            gold.format.as_str(),
            read,
            a.limit
                .map(|n| format!(", first {n} per language evaluated"))
                .unwrap_or_default()
        ),
    );
    if let Some(l) = &answers_lang {
        setup.insert("answers language".to_string(), l.to_string());
    }
    let gold_qids: HashSet<&str> = gold.items.iter().map(|i| i.qid.as_str()).collect();
    let (index, rankings, engine);
    match &a.run {
        Some(run_path) => {
            index = Some(
                xlqa_index::Index::open(&a.index)
                    .with_context(|| format!("opening the index {}", a.index.display()))?,
            );
            engine = None;
            let passages: Vec<&Passage> = index
                .as_ref()
                .map_or(Vec::new(), |i| i.store.iter().collect());
            let run = read_run(run_path)?;
            let matched = run
                .by_qid
                .keys()
                .filter(|q| gold_qids.contains(q.as_str()))
                .count();
            if matched == 0 {
                bail!(
                    "{}: none of its {} topics is a question of {} (topic ids are the question id, or <lang>:<id> when an id is shared by several languages, e.g. \"{}\")",
                    run_path.display(),
                    run.by_qid.len(),
                    a.gold.display(),
                    gold.items.first().map(|i| i.qid.as_str()).unwrap_or("")
                );
            }
            if matched < run.by_qid.len() {
                notes.push(format!(
                    "{}: {} of its topics are not among the evaluated questions (ignored)",
                    run_path.display(),
                    run.by_qid.len() - matched
                ));
            }
            rankings = resolve_run(&run, &passages)?;
            setup.insert(
                "ranked lists".to_string(),
                format!("run file {}", run_path.display()),
            );
        }
        None => {
            let e = crate::open_engine(
                &a.index,
                &crate::EncoderArgs {
                    batch_size: a.batch_size,
                    precision: a.precision,
                    encoder: None,
                },
                "none",
                &crate::ReaderArgs {
                    reader_dir: None,
                    reader_exact: false,
                },
            )?;
            let opts = RetrieveOptions {
                retriever: a.retriever.clone(),
                k: a.depth,
                depth: a.depth,
                fusion: a.fusion.fusion,
                rrf_k: a.fusion.rrf_k,
                weights: a.fusion.weights(),
                exclude_langs: a.exclude_lang.clone(),
                ..RetrieveOptions::default()
            };
            let bar = xlqa_core::progress::bar(gold.items.len() as u64, "retrieving", !a.quiet);
            // raw question vectors through the embedding cache, so a rerun
            // (another index, retriever or exclusion) encodes nothing
            let embeddings = if !e.retrieval_needs_vector(&opts) {
                None
            } else {
                let home = crate::home()?;
                let mut cache = xlqa_models::EmbeddingCache::open(
                    &home.root().join("cache").join("embeddings"),
                    e.corpus.encoder(),
                )?;
                let texts: Vec<&str> = gold.items.iter().map(|i| i.question.as_str()).collect();
                let qbar = xlqa_core::progress::bar(texts.len() as u64, "questions", !a.quiet);
                let (v, _) = cache.encode(
                    e.corpus.encoder(),
                    &texts,
                    xlqa_models::TextKind::Query,
                    512,
                    &|done, _| qbar.set_position(done as u64),
                )?;
                qbar.finish_and_clear();
                Some(v)
            };
            rankings = retrieve_all(
                &e,
                &gold.items,
                &opts,
                a.exclude_own_lang,
                embeddings.as_deref(),
                &|done, _| bar.set_position(done as u64),
            )?;
            bar.finish_and_clear();
            let mut how = format!("{} retrieval, depth {}", a.retriever.as_str(), a.depth);
            if a.retriever == RetrieverChoice::Hybrid {
                how += &format!(
                    " (RRF k {}, weights dense {} / bm25 {})",
                    a.fusion.rrf_k, a.fusion.w_dense, a.fusion.w_bm25
                );
            }
            if !a.exclude_lang.is_empty() {
                let l: Vec<String> = a.exclude_lang.iter().map(|l| l.to_string()).collect();
                how += &format!(", excluding {}", l.join(","));
            }
            if a.exclude_own_lang {
                how += ", excluding each question's own language";
            }
            setup.insert("ranked lists".to_string(), how);
            engine = Some(e);
            index = None;
        }
    }
    let passages: Vec<&Passage> = match (&engine, &index) {
        (Some(e), _) => e.index().store.iter().collect(),
        (None, Some(i)) => i.store.iter().collect(),
        (None, None) => bail!("no index is open"),
    };

    // judgments
    let judgments = match &a.qrels {
        Some(p) => {
            let q = read_qrels(p)?;
            let matched = q
                .by_qid
                .keys()
                .filter(|k| gold_qids.contains(k.as_str()))
                .count();
            if matched == 0 {
                bail!(
                    "{}: none of its {} topics is a question of {} (topic ids are the question id, or <lang>:<id> when an id is shared by several languages, e.g. \"{}\")",
                    p.display(),
                    q.by_qid.len(),
                    a.gold.display(),
                    gold.items.first().map(|i| i.qid.as_str()).unwrap_or("")
                );
            }
            if matched < q.by_qid.len() {
                notes.push(format!(
                    "{}: {} of its topics are not among the evaluated questions (ignored)",
                    p.display(),
                    q.by_qid.len() - matched
                ));
            }
            let (j, unknown) = resolve_qrels(&q, &passages)?;
            if unknown > 0 {
                notes.push(format!(
                    "{}: {unknown} judged docnos are neither passage ids nor document ids of the index; they count as relevant-but-never-retrieved",
                    p.display()
                ));
            }
            let levels: BTreeMap<&str, usize> = j.values().fold(BTreeMap::new(), |mut m, j| {
                *m.entry(if j.document_level {
                    "document"
                } else {
                    "passage"
                })
                .or_default() += 1;
                m
            });
            let lv: Vec<String> = levels
                .iter()
                .map(|(k, v)| format!("{v} {k}-level"))
                .collect();
            setup.insert(
                "qrels".to_string(),
                format!("{} ({} topics: {})", p.display(), j.len(), lv.join(", ")),
            );
            Some(j)
        }
        None => None,
    };

    let (mut report, per_question) = evaluate(
        &EvalInput {
            items: &gold.items,
            passages: &passages,
            rankings: &rankings,
            judgments: judgments.as_ref(),
        },
        &EvalOptions {
            ks: a.k.clone(),
            budgets: a.budgets.clone(),
            cut: 10,
        },
    )?;
    report.setup = setup;
    notes.append(&mut report.notes);
    report.notes = notes;
    let md = report.to_markdown();
    println!("{md}");
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let p = dir.join("report.md");
        std::fs::write(&p, &md).with_context(|| format!("writing {}", p.display()))?;
        let p = dir.join("report.json");
        std::fs::write(&p, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", p.display()))?;
        let p = dir.join("per_question.jsonl");
        let f = std::fs::File::create(&p).with_context(|| format!("writing {}", p.display()))?;
        let mut w = std::io::BufWriter::new(f);
        for q in &per_question {
            let line = serde_json::json!({"id": q.id, "lang": q.lang, "metrics": q.metrics});
            writeln!(w, "{line}").with_context(|| format!("writing {}", p.display()))?;
        }
        w.flush()
            .with_context(|| format!("writing {}", p.display()))?;
        eprintln!(
            "wrote report.md, report.json and per_question.jsonl to {}",
            dir.display()
        );
    }
    Ok(())
}
