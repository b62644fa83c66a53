//! `xlqa eval lareqa`: LAReQA on XQuAD-R / MLQA-R.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use xlqa_core::progress::bar;
use xlqa_core::Lang;
use xlqa_data::lareqa::{read_lareqa_dir, AnswerSentenceRule, LoadOptions};
use xlqa_eval::lareqa::{
    self, report::RunInfo, Bm25Pool, Bm25Scorer, CandidateMode, DebiasFit, DenseScorer,
    HybridScorer, LareqaReport, LareqaRetriever, PoolScorer,
};
use xlqa_index::DebiasMethod;
use xlqa_models::EmbeddingCache;
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
    /// Texts per encoder batch.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Encoder arithmetic: int8 (default), f32 or q4 (see `xlqa index --help`).
    #[arg(long)]
    precision: Option<xlqa_models::Precision>,
    /// The encoder: base (the default), aligned (the shipped fine-tuned one)
    /// or a delta folder from `xlqa train encoder`.
    #[arg(long)]
    encoder: Option<String>,
    /// Write report.md, report.json, per_question.jsonl and the SVG figures here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// No progress output.
    #[arg(long)]
    quiet: bool,
}

pub fn run(a: LareqaArgs) -> Result<()> {
    let t0 = Instant::now();
    let dir = match a.data {
        Some(d) => d,
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
    let show = !a.quiet;
    if show {
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
    let mut timings = BTreeMap::new();
    let need_dense = a.retriever != LareqaRetriever::Bm25;
    let need_bm25 = a.retriever != LareqaRetriever::Dense;
    let mut encoder_name = None;
    let mut cache_stats = None;
    let embeddings = if need_dense {
        let home = crate::home()?;
        let enc = crate::load_encoder(
            &home,
            &crate::EncoderArgs {
                batch_size: a.batch_size,
                precision: a.precision,
                encoder: a.encoder.clone(),
            },
        )?;
        encoder_name = Some(format!(
            "{}, weights sha256 {}…, {}",
            enc.id(),
            &enc.weights_sha256()[..12],
            enc.options().precision
        ));
        let cache_dir = a
            .cache_dir
            .clone()
            .unwrap_or_else(|| home.root().join("cache").join("embeddings"));
        let mut cache = EmbeddingCache::open(&cache_dir, &enc)?;
        let qbar = bar(data.questions.len() as u64, "questions", show);
        let cbar = bar(data.candidates.len() as u64, "candidates", show);
        let e = lareqa::embed(&data, a.candidate, &enc, &mut cache, &|what, done, _| {
            if what == "questions" {
                qbar.set_position(done as u64)
            } else {
                cbar.set_position(done as u64)
            }
        })?;
        qbar.finish_and_clear();
        cbar.finish_and_clear();
        if show {
            eprintln!(
                "embeddings: {} from the cache, {} encoded in {:.0} s ({})",
                e.stats.hits,
                e.stats.encoded,
                e.seconds,
                cache.path().display()
            );
        }
        timings.insert("embed".to_string(), e.seconds);
        cache_stats = Some(e.stats);
        let mut e = e;
        if a.debias != DebiasMethod::None {
            let t = Instant::now();
            lareqa::debias(&data, &mut e, a.debias, a.debias_fit)?;
            timings.insert("debias".to_string(), t.elapsed().as_secs_f64());
        }
        let mut debias_kind = a.debias;
        if let Some(path) = &a.debias_stats {
            let d = read_debias(path)?;
            debias_kind = d.method;
            lareqa::apply_debias(&data, &mut e, &d, &d)
                .with_context(|| format!("--debias-stats {}", path.display()))?;
        }
        if let Some(dir) = &a.adapter {
            let ad = Adapter::load(dir)?;
            ad.check_encoder(enc.id(), enc.weights_sha256(), dir)?;
            let centered = debias_kind == DebiasMethod::Center;
            if (ad.meta.input == "center") != centered {
                bail!(
                    "adapter {} was trained on {} vectors, but --debias is {}: use --debias {}",
                    dir.display(),
                    ad.meta.input,
                    a.debias,
                    if ad.meta.input == "center" {
                        "center"
                    } else {
                        "none"
                    }
                );
            }
            for v in e.questions.iter_mut().chain(e.candidates.iter_mut()) {
                ad.apply(v);
            }
        }
        Some(e)
    } else {
        None
    };
    let pool = if need_bm25 {
        let t = Instant::now();
        let p = Bm25Pool::build(&data, a.candidate)?;
        timings.insert("bm25_index".to_string(), t.elapsed().as_secs_f64());
        Some(p)
    } else {
        None
    };
    let scorer: Box<dyn PoolScorer> = match (a.retriever, &embeddings, &pool) {
        (LareqaRetriever::Dense, Some(e), _) => {
            Box::new(DenseScorer::new(&e.questions, &e.candidates))
        }
        (LareqaRetriever::Bm25, _, Some(p)) => Box::new(Bm25Scorer {
            pool: p,
            data: &data,
        }),
        (LareqaRetriever::Hybrid, Some(e), Some(p)) => Box::new(HybridScorer {
            dense: DenseScorer::new(&e.questions, &e.candidates),
            bm25: Bm25Scorer {
                pool: p,
                data: &data,
            },
            depth: a.depth.max(1),
            rrf_k: a.fusion.rrf_k,
            w_dense: a.fusion.w_dense,
            w_bm25: a.fusion.w_bm25,
        }),
        _ => bail!("internal: retriever inputs missing"),
    };
    let t = Instant::now();
    let sbar = bar(data.questions.len() as u64, "ranking", show);
    let results = lareqa::evaluate(&data, scorer.as_ref(), a.seed, &|done, _| {
        sbar.set_position(done as u64)
    })?;
    sbar.finish_and_clear();
    timings.insert("rank_and_score".to_string(), t.elapsed().as_secs_f64());
    timings.insert("total".to_string(), t0.elapsed().as_secs_f64());
    let mut settings = BTreeMap::new();
    settings.insert("seed".to_string(), a.seed.to_string());
    if a.retriever == LareqaRetriever::Hybrid {
        settings.insert("depth".to_string(), a.depth.to_string());
        settings.insert("rrf_k".to_string(), a.fusion.rrf_k.to_string());
        settings.insert("w_dense".to_string(), a.fusion.w_dense.to_string());
        settings.insert("w_bm25".to_string(), a.fusion.w_bm25.to_string());
    }
    if need_dense && a.debias != DebiasMethod::None {
        settings.insert("debias".to_string(), a.debias.to_string());
        settings.insert(
            "debias_fit".to_string(),
            format!("{:?}", a.debias_fit).to_lowercase(),
        );
    }
    if let Some(dir) = &a.adapter {
        settings.insert("adapter".to_string(), dir.display().to_string());
    }
    if let Some(p) = &a.debias_stats {
        settings.insert("debias_stats".to_string(), p.display().to_string());
    }
    if let Some(n) = a.limit_articles {
        settings.insert("limit_articles".to_string(), n.to_string());
    }
    let report = LareqaReport::new(
        &data,
        &results,
        RunInfo {
            retriever: a.retriever.to_string(),
            candidate: a.candidate.to_string(),
            rule: format!("{:?}", a.answer_sentence).to_lowercase(),
            encoder: encoder_name,
            settings,
            complete: a.limit_articles.is_none(),
            timings_s: timings,
            cache: cache_stats,
        },
    );
    let md = report.to_markdown();
    println!("{md}");
    if let Some(out) = a.out {
        std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
        let write = |name: &str, bytes: &[u8]| -> Result<()> {
            let p = out.join(name);
            std::fs::write(&p, bytes).with_context(|| format!("writing {}", p.display()))
        };
        write("report.md", md.as_bytes())?;
        write("report.json", &serde_json::to_vec_pretty(&report)?)?;
        write(
            "per_question.jsonl",
            LareqaReport::per_question_jsonl(&results).as_bytes(),
        )?;
        write("pairs.svg", report.pair_svg().as_bytes())?;
        write("top100.svg", report.top100_svg().as_bytes())?;
        if let Some(e) = &embeddings {
            let pts = lareqa::pca_points(&data, e, 1500);
            let svg = lareqa::report::pca_svg(
                &pts,
                &report.langs,
                &format!(
                    "PCA of question and {} embeddings (multilingual-e5-small)",
                    a.candidate
                ),
            );
            write("pca.svg", svg.as_bytes())?;
        }
        if show {
            eprintln!("report written to {}", out.display());
        }
    }
    Ok(())
}

/// A fitted de-biasing transform from a JSON file: the transform itself, or
/// an index manifest holding one under `debias`.
fn read_debias(path: &std::path::Path) -> Result<xlqa_index::Debias> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let inner = match v.get("debias") {
        Some(d) if v.get("format").is_some() => d.clone(),
        _ => v,
    };
    if inner.is_null() {
        bail!("{}: the index records no de-biasing", path.display());
    }
    serde_json::from_value(inner)
        .with_context(|| format!("{}: not a de-biasing transform", path.display()))
}
