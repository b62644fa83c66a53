//! `xlqa eval lareqa`: LAReQA on XQuAD-R / MLQA-R.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use xlqa_core::Lang;
use xlqa_data::lareqa::{read_lareqa_dir, AnswerSentenceRule, LareqaData, LoadOptions};
use xlqa_eval::lareqa::job::{
    read_debias, run_lareqa, write_outputs, DenseSetup, LareqaJob, VectorTransform,
};
use xlqa_eval::lareqa::{self, CandidateMode, DebiasFit, LareqaRetriever};
use xlqa_index::DebiasMethod;
use xlqa_train::Adapter;

#[derive(Args)]
pub struct LareqaArgs {
    /// Folder of <lang>.json files in the XQuAD-R / MLQA-R format
    /// (default: the shared data's lareqa_xquad_r).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Candidate text: the sentence, or the sentence followed by its paragraph.
    #[arg(long, default_value = "sentence")]
    candidate: CandidateMode,
    /// dense (the e5 encoder), bm25, or hybrid (RRF of both).
    #[arg(long, default_value = "dense")]
    retriever: LareqaRetriever,
    /// Only these languages (comma-separated codes; default: every file).
    #[arg(long, value_delimiter = ',')]
    langs: Vec<String>,
    /// Only the first N articles of each file (a parallel slice, for quick runs).
    #[arg(long)]
    limit_articles: Option<usize>,
    /// Which sentence holds an answer: contains (the span [start, end) holding
    /// answer_start) or released (start <= answer_start <= end, as LAReQA's code).
    #[arg(long, default_value = "contains")]
    answer_sentence: AnswerSentenceRule,
    /// Hybrid: length of the dense and BM25 lists that are fused.
    #[arg(long, default_value_t = 1000)]
    depth: usize,
    /// Hybrid: fusion constant and weights.
    #[command(flatten)]
    fusion: crate::FusionArgs,
    /// Training-free de-biasing of the dense embeddings: none, center
    /// (subtract each language's mean), lir:R (remove each language's top-R
    /// singular directions, Yang et al. 2021) or subspace:R (remove the top-R
    /// principal directions of the language means, shared by all languages).
    #[arg(long, default_value = "none")]
    debias: DebiasMethod,
    /// What the de-biasing is fitted on: candidates (the pool, by language;
    /// questions use their language's candidate statistics) or separate
    /// (questions get statistics of their own, by language).
    #[arg(long, default_value = "candidates")]
    debias_fit: DebiasFit,
    /// Apply this fitted de-biasing transform instead of fitting one on the
    /// pool: a JSON file holding a transform (e.g. `centering.json` from
    /// `xlqa train encoder`) or an index's manifest.json.
    #[arg(long, conflicts_with_all = ["debias", "debias_fit"])]
    debias_stats: Option<PathBuf>,
    /// An alignment adapter folder (from `xlqa train encoder`) applied to the
    /// dense embeddings after the de-biasing.
    #[arg(long)]
    adapter: Option<PathBuf>,
    /// Seed of the random target removed in the –rand diagnostic.
    #[arg(long, default_value_t = 12345)]
    seed: u64,
    /// Embedding cache folder (default: $XLQA_HOME/cache/embeddings).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    #[command(flatten)]
    enc: crate::EncoderArgs,
    /// Write report.md, report.json, per_question.jsonl and the SVG figures here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// No progress output.
    #[arg(long)]
    quiet: bool,
}

pub fn run(a: LareqaArgs) -> Result<()> {
    let data = read_data(&a)?;
    let need_dense = a.retriever != LareqaRetriever::Bm25;
    let home = crate::home()?;
    let encoder = if need_dense {
        Some(crate::load_encoder(&home, &a.enc)?)
    } else {
        None
    };
    let debias_stats = match &a.debias_stats {
        Some(p) => Some((p.clone(), read_debias(p)?)),
        None => None,
    };
    let adapter = match (&a.adapter, &encoder) {
        (Some(dir), Some(enc)) => Some(load_adapter(&a, dir, enc, &debias_stats)?),
        _ => None,
    };
    let apply = |v: &mut Vec<f32>| {
        if let Some(ad) = &adapter {
            ad.apply(v)
        }
    };
    let dense = encoder.as_ref().map(|enc| DenseSetup {
        encoder: enc,
        cache_dir: a
            .cache_dir
            .clone()
            .unwrap_or_else(|| home.root().join("cache").join("embeddings")),
        debias: a.debias,
        debias_fit: a.debias_fit,
        debias_stats,
        transform: a.adapter.as_ref().map(|dir| VectorTransform {
            label: dir.display().to_string(),
            apply: &apply,
        }),
    });
    let job = LareqaJob {
        data: &data,
        candidate: a.candidate,
        retriever: a.retriever,
        dense,
        depth: a.depth,
        rrf_k: a.fusion.rrf_k,
        w_dense: a.fusion.w_dense,
        w_bm25: a.fusion.w_bm25,
        seed: a.seed,
        rule: format!("{:?}", a.answer_sentence).to_lowercase(),
        limit_articles: a.limit_articles,
        progress: !a.quiet,
    };
    let outcome = run_lareqa(&job)?;
    let md = outcome.report.to_markdown();
    println!("{md}");
    if let Some(out) = &a.out {
        write_outputs(out, &md, &job, &outcome)?;
        if !a.quiet {
            eprintln!("report written to {}", out.display());
        }
    }
    Ok(())
}

/// The LAReQA files, with a summary and the first data warnings on stderr.
fn read_data(a: &LareqaArgs) -> Result<LareqaData> {
    let dir = match &a.data {
        Some(d) => d.clone(),
        None => crate::data_dir(None)?.join("lareqa_xquad_r"),
    };
    let langs = a
        .langs
        .iter()
        .map(|l| Lang::parse(l.trim()).with_context(|| format!("--langs: '{l}'")))
        .collect::<Result<Vec<_>>>()?;
    if a.limit_articles == Some(0) {
        bail!("--limit-articles must be at least 1");
    }
    let data = read_lareqa_dir(
        &dir,
        &LoadOptions {
            langs,
            limit_articles: a.limit_articles,
            rule: a.answer_sentence,
        },
    )?;
    if !a.quiet {
        eprintln!(
            "LAReQA: {} questions, {} candidates, {} languages ({}) from {}",
            data.questions.len(),
            data.candidates.len(),
            data.langs.len(),
            lareqa::lang_codes(&data).join(" "),
            dir.display()
        );
        for w in data.warnings.iter().take(5) {
            eprintln!("warning: {w}");
        }
        if data.warnings.len() > 5 {
            eprintln!(
                "warning: … {} more data warnings (in the report)",
                data.warnings.len() - 5
            );
        }
    }
    Ok(data)
}

/// The adapter, checked against the encoder and the vectors it is applied to.
fn load_adapter(
    a: &LareqaArgs,
    dir: &Path,
    enc: &xlqa_models::Encoder,
    debias_stats: &Option<(PathBuf, xlqa_index::Debias)>,
) -> Result<Adapter> {
    let ad = Adapter::load(dir)?;
    ad.check_encoder(enc.id(), enc.weights_sha256(), dir)?;
    let kind = debias_stats.as_ref().map_or(a.debias, |(_, d)| d.method);
    if (ad.meta.input == "center") != (kind == DebiasMethod::Center) {
        let want = if ad.meta.input == "center" {
            "center"
        } else {
            "none"
        };
        bail!(
            "adapter {} was trained on {} vectors, but --debias is {}: use --debias {want}",
            dir.display(),
            ad.meta.input,
            a.debias
        );
    }
    Ok(ad)
}
