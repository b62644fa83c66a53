//! The driver of `xlqa train encoder`: reads the translation and
//! question–answer pairs ([`read_sources`]), then trains either the
//! encoder's top layers ([`train_layers`], a delta `xlqa index --encoder DIR`
//! uses) or a linear adapter on frozen sentence vectors ([`train_adapter`]).
//! The CLI parses flags into a [`Common`] plus a method's job, loads the
//! encoders and prints the result.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use xlqa_core::progress::{bar, Progress};
use xlqa_core::Lang;
use xlqa_data::pairs::{self, Pair, ReadSummary};
use xlqa_data::DataError;
use xlqa_index::{Debias, DebiasMethod};
use xlqa_models::delta::{save_delta, DeltaMeta, DELTA_FORMAT};
use xlqa_models::{EmbeddingCache, Encoder, TextKind};

use crate::adapter::{Adapter, AdapterError, AdapterMeta, ADAPTER_FORMAT};
use crate::finetune::{self, FinetuneConfig, FinetuneError, FtModel, SourcePairs};
use crate::trainer::{self, Batching, Loss, TrainConfig, TrainError, VecPair};

/// Errors of an encoder-training job.
#[derive(Debug, thiserror::Error)]
pub enum EncoderJobError {
    /// Options that do not fit together, or no training data.
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error(transparent)]
    Finetune(#[from] FinetuneError),
    #[error(transparent)]
    Adapter(Box<AdapterError>),
    #[error(transparent)]
    Model(#[from] xlqa_models::ModelError),
    #[error(transparent)]
    Cache(#[from] xlqa_models::CacheError),
    #[error(transparent)]
    Debias(#[from] xlqa_index::DebiasError),
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<AdapterError> for EncoderJobError {
    fn from(e: AdapterError) -> Self {
        EncoderJobError::Adapter(Box::new(e))
    }
}

type Result<T> = std::result::Result<T, EncoderJobError>;

/// Pairs taken per language from each source (0: the source is not used).
#[derive(Clone, Copy, Debug)]
pub struct PerLang {
    pub tatoeba: usize,
    pub xor: usize,
    pub tydi: usize,
}

/// The training pairs, by source, and what was read of each.
pub struct Sources {
    pub lists: Vec<(&'static str, Vec<Pair>)>,
    pub summaries: serde_json::Value,
}

/// What both methods share.
pub struct Common {
    pub out: PathBuf,
    pub seed: u64,
    pub epochs: Option<usize>,
    pub batch_size: Option<usize>,
    pub lr: Option<f64>,
    pub loss: Option<Loss>,
    pub batching: Batching,
    pub reg: f64,
    /// Stop after this many steps (0: all epochs).
    pub max_steps: usize,
    pub dev_every: usize,
    pub per_lang: PerLang,
    /// The --langs as given (for the recipe).
    pub langs: Vec<String>,
    /// The command line, for the recipe.
    pub command: String,
    pub progress: bool,
}

/// `--method adapter`: a linear map on frozen (cached) sentence vectors.
pub struct AdapterJob {
    pub common: Common,
    /// Train on vectors centered per language (as `xlqa index` stores them).
    pub center: bool,
    pub cache_dir: PathBuf,
}

/// `--method layers`: fine-tunes the top layers on cached lower-layer states.
pub struct LayersJob {
    pub common: Common,
    pub train_layers: usize,
    pub align_weight: f64,
    pub hard_negatives: usize,
    pub max_tokens: usize,
    /// Name of the fine-tuned encoder (its id is `<base id>+<name>`).
    pub name: String,
}

/// Which encoder prefix each side of a source's pairs gets.
fn kinds(source: &str) -> (TextKind, TextKind) {
    match source {
        "xor" => (TextKind::Query, TextKind::Query),
        "tydi" => (TextKind::Query, TextKind::Passage),
        _ => (TextKind::Passage, TextKind::Passage),
    }
}

/// Fails when `out` already holds a model of the method (its `meta_file`)
/// and `force` is not given.
pub fn check_out(out: &Path, meta_file: &str, force: bool) -> Result<()> {
    if out.join(meta_file).exists() && !force {
        return Err(EncoderJobError::Config(format!(
            "{} already holds a trained model ({meta_file}); pass --force to replace it",
            out.display()
        )));
    }
    Ok(())
}

/// Reads one source for `langs` (all of its languages when empty); a
/// language the source has no file for is skipped and returned, since every
/// source covers different languages.
fn read_some(
    langs: &[Lang],
    read: impl Fn(&[Lang]) -> std::result::Result<(Vec<Pair>, ReadSummary), DataError>,
) -> Result<(Vec<Pair>, ReadSummary, Vec<String>)> {
    if langs.is_empty() {
        let (p, s) = read(&[])?;
        return Ok((p, s, Vec::new()));
    }
    let mut pairs = Vec::new();
    let mut summary = ReadSummary::default();
    let mut missing = Vec::new();
    for l in langs {
        match read(std::slice::from_ref(l)) {
            Ok((p, s)) => {
                pairs.extend(p);
                summary.merge(s);
            }
            Err(DataError::LangNotFound { .. }) => missing.push(l.to_string()),
            Err(e) => return Err(e.into()),
        }
    }
    Ok((pairs, summary, missing))
}

/// The pairs of every source in use under the shared data folder `dir`,
/// for `langs` (English, the pivot, is always kept) or every language.
pub fn read_sources(dir: &Path, langs: &[Lang], per: PerLang) -> Result<Sources> {
    let mut filter = langs.to_vec();
    if !filter.is_empty() && !filter.iter().any(|l| l.as_str() == "en") {
        filter.extend(Lang::parse("en").ok());
    }
    let lim = |n: usize| (n > 0).then_some(n);
    let mut lists: Vec<(&'static str, Vec<Pair>)> = Vec::new();
    let mut summaries = serde_json::Map::new();
    let mut keep = |name: &'static str, (p, s, missing): (Vec<Pair>, ReadSummary, Vec<String>)| {
        let mut v = serde_json::to_value(&s).unwrap_or_default();
        v["langs_without_data"] = serde_json::json!(missing);
        summaries.insert(name.to_string(), v);
        lists.push((name, p));
    };
    if per.tatoeba > 0 {
        let d = dir.join("tatoeba_laser_v1");
        keep(
            "tatoeba",
            read_some(&filter, |l| pairs::read_tatoeba(&d, l, lim(per.tatoeba)))?,
        );
    }
    let xor_dir = dir.join("xor_tydi_question_translations");
    let (xor_all, _, _) = read_some(&filter, |l| pairs::read_xor_translations(&xor_dir, l, None))?;
    if per.xor > 0 {
        let r = read_some(&filter, |l| {
            pairs::read_xor_translations(&xor_dir, l, lim(per.xor))
        })?;
        keep("xor", r);
    }
    if per.tydi > 0 {
        let map = pairs::translation_map(&xor_all);
        let d = dir.join("tydiqa_goldp_v1.1").join("train_partial");
        let r = read_some(&filter, |l| {
            pairs::read_tydi_train(&d, l, lim(per.tydi), Some(&map))
        })?;
        keep("tydi", r);
    }
    if lists.iter().all(|(_, p)| p.is_empty()) {
        return Err(EncoderJobError::Config(
            "no training pairs: check --langs and the per-language limits".into(),
        ));
    }
    Ok(Sources {
        lists,
        summaries: serde_json::Value::Object(summaries),
    })
}

struct Side<'a> {
    text: &'a str,
    lang: String,
    kind: TextKind,
}

type SidePair<'a> = (Side<'a>, Side<'a>, String);

fn sides(sources: &Sources) -> Vec<SidePair<'_>> {
    let mut out = Vec::new();
    for (name, pairs) in &sources.lists {
        let (ka, kb) = kinds(name);
        for p in pairs {
            out.push((
                Side {
                    text: &p.a,
                    lang: p.a_lang.to_string(),
                    kind: ka,
                },
                Side {
                    text: &p.b,
                    lang: p.b_lang.to_string(),
                    kind: kb,
                },
                format!("{name}:{}-{}", p.a_lang, p.b_lang),
            ));
        }
    }
    out
}

/// Every distinct text of each prefix embedded once, through the cache.
fn embed_sides<'a>(
    enc: &Encoder,
    cache: &mut EmbeddingCache,
    sides: &[SidePair<'a>],
    show: bool,
) -> Result<HashMap<(bool, &'a str), Vec<f32>>> {
    let mut vecs = HashMap::new();
    for kind in [TextKind::Query, TextKind::Passage] {
        let is_q = kind == TextKind::Query;
        let mut texts: Vec<&str> = sides
            .iter()
            .flat_map(|(x, y, _)| [x, y])
            .filter(|s| (s.kind == TextKind::Query) == is_q)
            .map(|s| s.text)
            .collect();
        texts.sort_unstable();
        texts.dedup();
        if texts.is_empty() {
            continue;
        }
        let label = if is_q { "queries" } else { "passages" };
        let pb = bar(texts.len() as u64, label, show);
        let (v, stats) = cache.encode(enc, &texts, kind, 512, &|done, _| {
            pb.set_position(done as u64)
        })?;
        pb.finish_and_clear();
        if show {
            eprintln!(
                "{label}: {} from the cache, {} encoded",
                stats.hits, stats.encoded
            );
        }
        for (t, e) in texts.into_iter().zip(v) {
            vecs.insert((is_q, t), e);
        }
    }
    Ok(vecs)
}

/// Language and query/passage of both sides of every pair.
type SideLangs = Vec<(String, String, bool, bool)>;

fn vector_pairs(
    sides: &[SidePair],
    vecs: &HashMap<(bool, &str), Vec<f32>>,
) -> Result<(Vec<VecPair>, SideLangs)> {
    let get = |s: &Side| -> Result<Vec<f32>> {
        vecs.get(&(s.kind == TextKind::Query, s.text))
            .cloned()
            .ok_or_else(|| {
                EncoderJobError::Config("internal: a training text was not embedded".into())
            })
    };
    let mut pairs = Vec::with_capacity(sides.len());
    let mut langs = Vec::with_capacity(sides.len());
    for (x, y, group) in sides {
        pairs.push(VecPair {
            a: get(x)?,
            b: get(y)?,
            group: group.clone(),
        });
        let q = |s: &Side| s.kind == TextKind::Query;
        langs.push((x.lang.clone(), y.lang.clone(), q(x), q(y)));
    }
    Ok((pairs, langs))
}

/// Centering, as `xlqa index` does: passage means by language; queries use
/// their language's passage mean (their own mean where a language has no
/// passages). Writes `centering.json` into `out`; returns the fitted languages.
fn center(pairs: &mut [VecPair], langs: &SideLangs, out: &Path) -> Result<Vec<String>> {
    let mut pg: BTreeMap<String, Vec<&[f32]>> = BTreeMap::new();
    let mut qg: BTreeMap<String, Vec<&[f32]>> = BTreeMap::new();
    for (p, (la, lb, qa, qb)) in pairs.iter().zip(langs) {
        for (v, l, q) in [(&p.a, la, qa), (&p.b, lb, qb)] {
            let g = if *q { &mut qg } else { &mut pg };
            g.entry(l.clone()).or_default().push(v.as_slice());
        }
    }
    let dp = Debias::fit(DebiasMethod::Center, &pg, 1)?;
    let dq = Debias::fit(DebiasMethod::Center, &qg, 1)?;
    drop((pg, qg));
    for (p, (la, lb, qa, qb)) in pairs.iter_mut().zip(langs) {
        for (v, l, q) in [(&mut p.a, la, qa), (&mut p.b, lb, qb)] {
            let d = if *q && !dp.means.contains_key(l) {
                &dq
            } else {
                &dp
            };
            d.apply(l, v)?;
        }
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| EncoderJobError::Io { path, source }
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    let cpath = out.join("centering.json");
    let text = serde_json::to_string(&dp).map_err(|e| EncoderJobError::Config(e.to_string()))?;
    std::fs::write(&cpath, text + "\n").map_err(io(&cpath))?;
    Ok(dp.fitted_langs())
}

fn recipe_base(c: &Common, sources: &Sources) -> serde_json::Value {
    serde_json::json!({
        "sources": sources.summaries,
        "per_lang": {"tatoeba": c.per_lang.tatoeba, "xor": c.per_lang.xor, "tydi": c.per_lang.tydi},
        "langs": c.langs,
        "dev_every": c.dev_every,
        "command": c.command,
    })
}

fn merge(mut a: serde_json::Value, b: serde_json::Value) -> serde_json::Value {
    if let (Some(a), serde_json::Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

/// The adapter written, and the seconds spent encoding and training.
pub struct AdapterResult {
    pub adapter: Adapter,
    pub encode_s: f64,
    pub train_s: f64,
}

/// Trains a linear adapter on `enc`'s (cached) vectors and saves it in `out`.
pub fn train_adapter(job: &AdapterJob, enc: &Encoder, sources: &Sources) -> Result<AdapterResult> {
    let t0 = Instant::now();
    let c = &job.common;
    if c.loss == Some(Loss::Dpr) {
        return Err(EncoderJobError::Config(
            "--loss dpr needs hard negatives, which only --method layers has".into(),
        ));
    }
    let mut cache = EmbeddingCache::open(&job.cache_dir, enc)?;
    let sides = sides(sources);
    let vecs = embed_sides(enc, &mut cache, &sides, c.progress)?;
    let encode_s = t0.elapsed().as_secs_f64();
    let (mut pairs, langs) = vector_pairs(&sides, &vecs)?;
    drop(vecs);
    let centering = match job.center {
        true => Some(center(&mut pairs, &langs, &c.out)?),
        false => None,
    };
    let cfg = TrainConfig {
        seed: c.seed,
        epochs: c.epochs.unwrap_or(3),
        batch_size: c.batch_size.unwrap_or(128),
        lr: c.lr.unwrap_or(1e-3),
        loss: c.loss.unwrap_or(Loss::InBatch),
        batching: c.batching,
        reg: c.reg,
        max_steps: c.max_steps,
        ..TrainConfig::default()
    };
    let (train, dev) = trainer::split_dev(pairs, c.dev_every, c.seed);
    if c.progress {
        eprintln!(
            "training on {} pairs ({} held out), {} epochs of batches of {}, loss {:?}, batching {:?}",
            train.len(), dev.len(), cfg.epochs, cfg.batch_size, cfg.loss, cfg.batching
        );
    }
    let recipe = merge(
        recipe_base(c, sources),
        serde_json::json!({
            "config": cfg,
            "input": if job.center { "center" } else { "raw" },
            "train_pairs": train.len(),
            "dev_pairs": dev.len(),
            "centered_langs": centering,
        }),
    );
    let meta = |log: serde_json::Value| AdapterMeta {
        format: ADAPTER_FORMAT.into(),
        dim: enc.dim(),
        encoder: enc.id().to_string(),
        encoder_sha256: enc.weights_sha256().to_string(),
        input: if job.center { "center" } else { "raw" }.into(),
        weights_sha256: String::new(),
        recipe: recipe.clone(),
        log,
    };
    let t_train = Instant::now();
    let (w, log) = adapter_loop(job, &cfg, &train, &dev, &meta)?;
    let train_s = t_train.elapsed().as_secs_f64();
    let mut adapter = Adapter {
        meta: meta(serde_json::json!({
            "epochs": log,
            "encode_s": encode_s,
            "train_s": train_s,
            "total_s": t0.elapsed().as_secs_f64(),
        })),
        weight: w,
    };
    adapter.save(&c.out)?;
    Ok(AdapterResult {
        adapter,
        encode_s,
        train_s,
    })
}

/// The adapter's epochs, with a checkpoint and a line after each.
fn adapter_loop(
    job: &AdapterJob,
    cfg: &TrainConfig,
    train: &[VecPair],
    dev: &[VecPair],
    meta: &dyn Fn(serde_json::Value) -> AdapterMeta,
) -> Result<(Vec<f32>, Vec<trainer::EpochLog>)> {
    let c = &job.common;
    let pb = bar(
        trainer::total_steps(train, cfg) as u64,
        "training steps",
        c.progress,
    );
    let ckpt_dir = c.out.join("checkpoints");
    let mut logs = Vec::new();
    let r = trainer::train(
        train,
        dev,
        cfg,
        &|step, _, _| pb.set_position(step as u64),
        &mut |e, w| {
            logs.push(serde_json::to_value(e).unwrap_or_default());
            let mut ad = Adapter {
                meta: meta(serde_json::Value::Array(logs.clone())),
                weight: w.to_vec(),
            };
            ad.save(&ckpt_dir.join(format!("epoch-{}", e.epoch)))
                .map_err(|err| TrainError::Config(err.to_string()))?;
            note(&pb, c.progress, &format!(
            "epoch {}: train loss {:.4}, held-out loss {:.4}, held-out top-1 {:.3}, scale {:.1}, ‖W−I‖ {:.3}",
            e.epoch, e.train_loss.unwrap_or(f64::NAN), e.dev_loss, e.dev_acc, e.scale, e.w_minus_i
        ));
            Ok(())
        },
    )?;
    pb.finish_and_clear();
    Ok(r)
}

fn note(pb: &Progress, show: bool, line: &str) {
    if show {
        pb.println(line);
    }
}

/// The delta written, and the seconds spent on lower-layer states and training.
pub struct LayersResult {
    pub meta: DeltaMeta,
    pub cache_s: f64,
    pub train_s: f64,
}

fn layers_config(job: &LayersJob) -> FinetuneConfig {
    let c = &job.common;
    FinetuneConfig {
        seed: c.seed,
        epochs: c.epochs.unwrap_or(1),
        batch_size: c.batch_size.unwrap_or(64),
        lr: c.lr.unwrap_or(3e-5),
        loss: c.loss.unwrap_or(Loss::Dpr),
        batching: c.batching,
        train_layers: job.train_layers,
        reg: c.reg,
        align_weight: job.align_weight,
        hard_negatives: job.hard_negatives,
        max_tokens: job.max_tokens,
        max_steps: c.max_steps,
        ..FinetuneConfig::default()
    }
}

/// Fine-tunes the top layers of `f32_enc` (a copy in f32) on lower-layer
/// states computed with `base` (the inference kernels, int8 by default, as
/// at inference) and saves the delta in `out`.
pub fn train_layers(
    job: &LayersJob,
    base: &Encoder,
    f32_enc: Encoder,
    sources: &Sources,
) -> Result<LayersResult> {
    let t0 = Instant::now();
    let c = &job.common;
    let cfg = layers_config(job);
    let model = FtModel::from_encoder(&f32_enc, &cfg)?;
    drop(f32_enc);
    let list: Vec<SourcePairs> = sources
        .lists
        .iter()
        .map(|(name, p)| SourcePairs {
            name,
            pairs: p,
            kinds: kinds(name),
        })
        .collect();
    let n_texts: usize = sources.lists.iter().map(|(_, p)| 2 * p.len()).sum();
    let pb = bar(n_texts as u64, "lower-layer states", c.progress);
    let mut prep = finetune::prepare(base, &list, &cfg, &|done, total| {
        pb.set_length(total as u64);
        pb.set_position(done as u64)
    })?;
    pb.finish_and_clear();
    let cache_s = t0.elapsed().as_secs_f64();
    if c.progress {
        eprintln!(
            "{} distinct texts through layers 0..{} in {cache_s:.0} s; {} aligned word pairs in the translation pairs",
            prep.texts.len(), prep.from_layer, prep.aligned_tokens
        );
    }
    let (train, dev) = finetune::split_dev(std::mem::take(&mut prep.pairs), c.dev_every, c.seed);
    if c.progress {
        eprintln!(
            "training layers {}..{} on {} pairs ({} held out), {} epoch(s) of batches of {}, loss {:?}, batching {:?}, align {}, reg {}",
            prep.from_layer, prep.from_layer + cfg.train_layers, train.len(), dev.len(),
            cfg.epochs, cfg.batch_size, cfg.loss, cfg.batching, cfg.align_weight, cfg.reg
        );
    }
    let recipe = merge(
        recipe_base(c, sources),
        serde_json::json!({
            "method": "layers",
            "config": cfg,
            "train_pairs": train.len(),
            "dev_pairs": dev.len(),
            "distinct_texts": prep.texts.len(),
            "aligned_word_pairs": prep.aligned_tokens,
            "lower_precision": base.options().precision.to_string(),
        }),
    );
    let meta = |log: serde_json::Value| DeltaMeta {
        format: DELTA_FORMAT.into(),
        name: job.name.clone(),
        base_encoder: base.id().to_string(),
        base_weights_sha256: base.weights_sha256().to_string(),
        from_layer: prep.from_layer,
        layers: cfg.train_layers,
        weights_sha256: String::new(),
        recipe: recipe.clone(),
        log,
    };
    let t_train = Instant::now();
    let log = layers_loop(job, &cfg, &model, &prep, (&train, &dev), &meta)?;
    let train_s = t_train.elapsed().as_secs_f64();
    let mut dm = meta(serde_json::json!({
        "epochs": log,
        "cache_s": cache_s,
        "train_s": train_s,
        "total_s": t0.elapsed().as_secs_f64(),
    }));
    save_delta(&c.out, &mut dm, &model.top)?;
    Ok(LayersResult {
        meta: dm,
        cache_s,
        train_s,
    })
}

/// The fine-tuning epochs, with a checkpoint and a line after each.
fn layers_loop(
    job: &LayersJob,
    cfg: &FinetuneConfig,
    model: &FtModel,
    prep: &finetune::Prepared,
    (train, dev): (&[finetune::FtPair], &[finetune::FtPair]),
    meta: &dyn Fn(serde_json::Value) -> DeltaMeta,
) -> Result<Vec<finetune::FtEpoch>> {
    let c = &job.common;
    let pb = bar(
        finetune::total_steps(train, cfg) as u64,
        "training steps",
        c.progress,
    );
    let ckpt_dir = c.out.join("checkpoints");
    let mut logs = Vec::new();
    let log = finetune::train(
        model,
        prep,
        train,
        dev,
        cfg,
        &|step, _, _| pb.set_position(step as u64),
        &mut |e, m| {
            logs.push(serde_json::to_value(e).unwrap_or_default());
            let mut dm = meta(serde_json::Value::Array(logs.clone()));
            save_delta(
                &ckpt_dir.join(format!("epoch-{}", e.epoch)),
                &mut dm,
                &m.top,
            )?;
            let t = e.train.unwrap_or_default();
            note(&pb, c.progress, &format!(
            "epoch {}: train contrastive {:.4} (top-1 {:.3}), align {:.4}, reg {:.4}; held-out loss {:.4}, top-1 {:.3}; scale {:.1}; {:.0} s",
            e.epoch, t.contrastive, t.acc, t.align, t.reg, e.dev_loss, e.dev_acc, e.scale, e.seconds
        ));
            Ok(())
        },
    )?;
    pb.finish_and_clear();
    if c.progress {
        if let Some(e0) = log.first() {
            eprintln!(
                "base model: held-out loss {:.4}, top-1 {:.3}",
                e0.dev_loss, e0.dev_acc
            );
        }
    }
    Ok(log)
}
