//! `xlqa eval retrieval`: open-retrieval metrics over an xlqa index —
//! Recall@k / nDCG@10 / MRR@10 from TREC qrels, CORA's R^L@k / R^multi@k
//! and XOR-TyDi's R@2kt / R@5kt from gold answers (definitions:
//! `xlqa_eval::openeval`).

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::FusionArgs;
use std::io::Write;
use std::path::{Path, PathBuf};
use xlqa_core::Lang;
use xlqa_data::gold::GoldFormat;
use xlqa_eval::openeval::job::{
    check_cutoffs, run_retrieval_eval, RankingSource, RetrievalJob, RetrievalOutcome,
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
    #[command(flatten)]
    enc: crate::EncoderArgs,
    /// No progress display.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(a: RetrievalArgs) -> Result<()> {
    if a.run.is_some() && (a.exclude_own_lang || !a.exclude_lang.is_empty()) {
        bail!("--exclude-lang / --exclude-own-lang apply when retrieving; a --run file is scored as it is");
    }
    let depth = a.run.is_none().then_some(a.depth);
    check_cutoffs(&a.k, &a.budgets, depth)?;
    // the index (for a run file) or the engine (retrieving now) the job borrows
    let (index, engine) = match &a.run {
        Some(_) => (
            Some(
                xlqa_index::Index::open(&a.index)
                    .with_context(|| format!("opening the index {}", a.index.display()))?,
            ),
            None,
        ),
        None => (None, Some(open_engine(&a)?)),
    };
    let rankings = match (&a.run, &index, &engine) {
        (Some(path), Some(index), _) => RankingSource::RunFile {
            index,
            path: path.clone(),
        },
        (_, _, Some(engine)) => RankingSource::Retrieve {
            engine,
            options: retrieve_options(&a),
            exclude_own_lang: a.exclude_own_lang,
            embedding_cache: Some(crate::home()?.root().join("cache").join("embeddings")),
        },
        _ => bail!("internal: neither an index nor an engine is open"),
    };
    let job = RetrievalJob {
        index: a.index.clone(),
        gold: a.gold.clone(),
        gold_format: a.gold_format,
        answers_lang: a.answers_lang.clone(),
        qrels: a.qrels.clone(),
        rankings,
        ks: a.k.clone(),
        budgets: a.budgets.clone(),
        limit: a.limit,
        progress: !a.quiet,
    };
    let out = run_retrieval_eval(&job, &|n| eprintln!("note: {n}"))?;
    let md = out.report.to_markdown();
    println!("{md}");
    if let Some(dir) = &a.out {
        write_outputs(dir, &md, &out)?;
    }
    Ok(())
}

fn open_engine(a: &RetrievalArgs) -> Result<xlqa_search::Engine> {
    crate::open_engine(
        &a.index,
        &a.enc,
        "none",
        &crate::ReaderArgs {
            reader_dir: None,
            reader_exact: false,
        },
    )
}

fn retrieve_options(a: &RetrievalArgs) -> RetrieveOptions {
    RetrieveOptions {
        retriever: a.retriever.clone(),
        k: a.depth,
        depth: a.depth,
        fusion: a.fusion.fusion,
        rrf_k: a.fusion.rrf_k,
        weights: a.fusion.weights(),
        exclude_langs: a.exclude_lang.clone(),
        ..RetrieveOptions::default()
    }
}

/// report.md, report.json and per_question.jsonl in `dir`.
fn write_outputs(dir: &Path, md: &str, out: &RetrievalOutcome) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let p = dir.join("report.md");
    std::fs::write(&p, md).with_context(|| format!("writing {}", p.display()))?;
    let p = dir.join("report.json");
    std::fs::write(&p, serde_json::to_vec_pretty(&out.report)?)
        .with_context(|| format!("writing {}", p.display()))?;
    let p = dir.join("per_question.jsonl");
    let f = std::fs::File::create(&p).with_context(|| format!("writing {}", p.display()))?;
    let mut w = std::io::BufWriter::new(f);
    for q in &out.per_question {
        let line = serde_json::json!({"id": q.id, "lang": q.lang, "metrics": q.metrics});
        writeln!(w, "{line}").with_context(|| format!("writing {}", p.display()))?;
    }
    w.flush()
        .with_context(|| format!("writing {}", p.display()))?;
    eprintln!(
        "wrote report.md, report.json and per_question.jsonl to {}",
        dir.display()
    );
    Ok(())
}
