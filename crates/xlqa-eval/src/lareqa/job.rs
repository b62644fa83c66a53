//! The driver of `xlqa eval lareqa`: embeds the pool (through the cache),
//! de-biases, applies an alignment transform, builds the BM25 pool, ranks
//! and scores, and writes the report files. The CLI loads the encoder and
//! the adapter, fills a [`LareqaJob`] and prints the report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use xlqa_core::progress::bar;
use xlqa_data::lareqa::LareqaData;
use xlqa_index::{Debias, DebiasMethod};
use xlqa_models::{EmbeddingCache, Encoder};
use xlqa_search::{FusionMethod, RetrieveOptions, RetrieverChoice};

use super::report::RunInfo;
use super::{
    apply_debias, debias, embed, evaluate, pca_points, CandidateMode, DebiasFit, Embeddings,
    LareqaError, LareqaReport, LareqaRetriever, Pool, QuestionResult, RetrieverScorer,
};

/// A linear map applied to every dense vector after the de-biasing (an
/// alignment adapter from `xlqa train encoder`).
pub struct VectorTransform<'a> {
    /// Where it came from, for the report.
    pub label: String,
    pub apply: &'a dyn Fn(&mut Vec<f32>),
}

/// The dense side of a run: the encoder and what is done to its vectors.
pub struct DenseSetup<'a> {
    pub encoder: &'a Encoder,
    pub cache_dir: PathBuf,
    pub debias: DebiasMethod,
    pub debias_fit: DebiasFit,
    /// A fitted transform applied instead of fitting one (file, transform).
    pub debias_stats: Option<(PathBuf, Debias)>,
    pub transform: Option<VectorTransform<'a>>,
}

/// One LAReQA run over data already read.
pub struct LareqaJob<'a> {
    pub data: &'a LareqaData,
    pub candidate: CandidateMode,
    pub retriever: LareqaRetriever,
    /// None for BM25 alone.
    pub dense: Option<DenseSetup<'a>>,
    /// Hybrid: list length and fusion.
    pub depth: usize,
    pub rrf_k: f32,
    pub w_dense: f32,
    pub w_bm25: f32,
    pub seed: u64,
    /// The run's options as the report lists them (limit, rule...).
    pub rule: String,
    pub limit_articles: Option<usize>,
    pub progress: bool,
}

/// The report, each question's result and the dense vectors (for the PCA figure).
pub struct LareqaOutcome {
    pub report: LareqaReport,
    pub results: Vec<QuestionResult>,
    pub embeddings: Option<Embeddings>,
}

/// Runs the job.
pub fn run_lareqa(job: &LareqaJob) -> Result<LareqaOutcome, LareqaError> {
    let t0 = Instant::now();
    let mut timings = BTreeMap::new();
    let embeddings = match &job.dense {
        Some(d) => Some(dense_vectors(job, d, &mut timings)?),
        None => None,
    };
    let t = Instant::now();
    let pool = pool(job, &embeddings)?;
    timings.insert("pool_index".to_string(), t.elapsed().as_secs_f64());
    let t = Instant::now();
    let results = rank(job, &embeddings, &pool)?;
    timings.insert("rank_and_score".to_string(), t.elapsed().as_secs_f64());
    timings.insert("total".to_string(), t0.elapsed().as_secs_f64());
    let info = RunInfo {
        retriever: job.retriever.to_string(),
        candidate: job.candidate.to_string(),
        rule: job.rule.clone(),
        encoder: job.dense.as_ref().map(|d| encoder_name(d.encoder)),
        settings: settings(job),
        complete: job.limit_articles.is_none(),
        timings_s: timings,
        cache: embeddings.as_ref().map(|e| e.stats),
    };
    let report = LareqaReport::new(job.data, &results, info);
    Ok(LareqaOutcome {
        report,
        results,
        embeddings,
    })
}

/// The candidates as an index the retrievers search.
fn pool(job: &LareqaJob, e: &Option<Embeddings>) -> Result<Pool, LareqaError> {
    if job.retriever != LareqaRetriever::Bm25 && e.is_none() {
        return Err(LareqaError::Invalid(format!(
            "the {} retriever needs an encoder",
            job.retriever
        )));
    }
    let vectors = e.as_ref().map(|e| e.candidates.as_slice());
    Pool::build(job.data, job.candidate, vectors)
}

/// Ranks the pool for every question and scores it.
fn rank(
    job: &LareqaJob,
    e: &Option<Embeddings>,
    pool: &Pool,
) -> Result<Vec<QuestionResult>, LareqaError> {
    let scorer = RetrieverScorer {
        pool,
        data: job.data,
        questions: e.as_ref().map(|e| e.questions.as_slice()),
        options: retrieve_options(job),
    };
    let b = bar(job.data.questions.len() as u64, "ranking", job.progress);
    let results = evaluate(job.data, &scorer, job.seed, &|done, _| {
        b.set_position(done as u64)
    })?;
    b.finish_and_clear();
    Ok(results)
}

fn encoder_name(enc: &Encoder) -> String {
    format!(
        "{}, weights sha256 {}…, {}",
        enc.id(),
        &enc.weights_sha256()[..12],
        enc.options().precision
    )
}

/// Embeddings through the cache, de-biased and transformed.
fn dense_vectors(
    job: &LareqaJob,
    d: &DenseSetup,
    timings: &mut BTreeMap<String, f64>,
) -> Result<Embeddings, LareqaError> {
    let mut cache = EmbeddingCache::open(&d.cache_dir, d.encoder)?;
    let qbar = bar(job.data.questions.len() as u64, "questions", job.progress);
    let cbar = bar(job.data.candidates.len() as u64, "candidates", job.progress);
    let mut e = embed(
        job.data,
        job.candidate,
        d.encoder,
        &mut cache,
        &|what, done, _| {
            let b = if what == "questions" { &qbar } else { &cbar };
            b.set_position(done as u64)
        },
    )?;
    qbar.finish_and_clear();
    cbar.finish_and_clear();
    if job.progress {
        eprintln!(
            "embeddings: {} from the cache, {} encoded in {:.0} s ({})",
            e.stats.hits,
            e.stats.encoded,
            e.seconds,
            cache.path().display()
        );
    }
    timings.insert("embed".to_string(), e.seconds);
    if d.debias != DebiasMethod::None {
        let t = Instant::now();
        debias(job.data, &mut e, d.debias, d.debias_fit)?;
        timings.insert("debias".to_string(), t.elapsed().as_secs_f64());
    }
    if let Some((path, stats)) = &d.debias_stats {
        apply_debias(job.data, &mut e, stats, stats).map_err(|err| {
            LareqaError::Invalid(format!("--debias-stats {}: {err}", path.display()))
        })?;
    }
    if let Some(t) = &d.transform {
        for v in e.questions.iter_mut().chain(e.candidates.iter_mut()) {
            (t.apply)(v);
        }
    }
    Ok(e)
}

/// The engine's retrieval settings for the job's retriever and fusion.
fn retrieve_options(job: &LareqaJob) -> RetrieveOptions {
    RetrieveOptions {
        retriever: match job.retriever {
            LareqaRetriever::Dense => RetrieverChoice::dense(),
            LareqaRetriever::Bm25 => RetrieverChoice::bm25(),
            LareqaRetriever::Hybrid => RetrieverChoice::Hybrid,
        },
        depth: job.depth.max(1),
        fusion: FusionMethod::Rrf,
        rrf_k: job.rrf_k,
        weights: [
            ("dense".to_string(), job.w_dense),
            ("bm25".to_string(), job.w_bm25),
        ]
        .into(),
        // every candidate is scored: no approximate search
        use_ann: false,
        ..RetrieveOptions::default()
    }
}

/// The run's settings as the report lists them.
fn settings(job: &LareqaJob) -> BTreeMap<String, String> {
    let mut s = BTreeMap::new();
    s.insert("seed".to_string(), job.seed.to_string());
    if job.retriever == LareqaRetriever::Hybrid {
        s.insert("depth".to_string(), job.depth.to_string());
        s.insert("rrf_k".to_string(), job.rrf_k.to_string());
        s.insert("w_dense".to_string(), job.w_dense.to_string());
        s.insert("w_bm25".to_string(), job.w_bm25.to_string());
    }
    if let Some(d) = &job.dense {
        if d.debias != DebiasMethod::None {
            s.insert("debias".to_string(), d.debias.to_string());
            s.insert(
                "debias_fit".to_string(),
                format!("{:?}", d.debias_fit).to_lowercase(),
            );
        }
        if let Some(t) = &d.transform {
            s.insert("adapter".to_string(), t.label.clone());
        }
        if let Some((p, _)) = &d.debias_stats {
            s.insert("debias_stats".to_string(), p.display().to_string());
        }
    }
    if let Some(n) = job.limit_articles {
        s.insert("limit_articles".to_string(), n.to_string());
    }
    s
}

/// Writes report.md, report.json, per_question.jsonl and the SVG figures
/// (pca.svg only with dense vectors) into `out`.
pub fn write_outputs(
    out: &Path,
    markdown: &str,
    job: &LareqaJob,
    o: &LareqaOutcome,
) -> Result<(), LareqaError> {
    let io = |p: &Path, e: std::io::Error| LareqaError::Write {
        path: p.to_path_buf(),
        source: e,
    };
    std::fs::create_dir_all(out).map_err(|e| io(out, e))?;
    let write = |name: &str, bytes: &[u8]| {
        let p = out.join(name);
        std::fs::write(&p, bytes).map_err(|e| io(&p, e))
    };
    let json = serde_json::to_vec_pretty(&o.report)
        .map_err(|e| LareqaError::Invalid(format!("report.json: {e}")))?;
    write("report.md", markdown.as_bytes())?;
    write("report.json", &json)?;
    let per_question = LareqaReport::per_question_jsonl(&o.results);
    write("per_question.jsonl", per_question.as_bytes())?;
    write("pairs.svg", o.report.pair_svg().as_bytes())?;
    write("top100.svg", o.report.top100_svg().as_bytes())?;
    if let Some(e) = &o.embeddings {
        let pts = pca_points(job.data, e, 1500);
        let title = format!(
            "PCA of question and {} embeddings (multilingual-e5-small)",
            job.candidate
        );
        let svg = super::report::pca_svg(&pts, &o.report.langs, &title);
        write("pca.svg", svg.as_bytes())?;
    }
    Ok(())
}

/// A fitted de-biasing transform from a JSON file: the transform itself, or
/// an index manifest holding one under `debias`.
pub fn read_debias(path: &Path) -> Result<Debias, LareqaError> {
    let bad = |m: String| LareqaError::Invalid(format!("{}: {m}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| {
        LareqaError::Data(xlqa_data::DataError::Io {
            path: path.to_path_buf(),
            source: e,
        })
    })?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let inner = match v.get("debias") {
        Some(d) if v.get("format").is_some() => d.clone(),
        _ => v,
    };
    if inner.is_null() {
        return Err(bad("the index records no de-biasing".into()));
    }
    serde_json::from_value(inner).map_err(|e| bad(format!("not a de-biasing transform: {e}")))
}
