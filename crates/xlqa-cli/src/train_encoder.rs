//! `xlqa train encoder`: cross-lingual alignment training, either of the
//! encoder's top layers (`--method layers`, the default; writes a delta that
//! `xlqa index --encoder DIR` uses) or of a linear adapter on frozen
//! sentence vectors (`--method adapter`).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use xlqa_core::progress::bar;
use xlqa_core::Lang;
use xlqa_data::pairs::{self as data, Pair, ReadSummary};
use xlqa_data::DataError;
use xlqa_index::{Debias, DebiasMethod};
use xlqa_models::{EmbeddingCache, Encoder, TextKind};
use xlqa_train::adapter::{Adapter, AdapterMeta, ADAPTER_FORMAT};
use xlqa_train::trainer::{self, Batching, Loss, TrainConfig, VecPair};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// Fine-tune the encoder's top layers (writes encoder.safetensors + encoder.json).
    Layers,
    /// A linear map on frozen sentence vectors (writes adapter.safetensors + adapter.json).
    Adapter,
}

#[derive(Args)]
pub struct TrainEncoderArgs {
    /// Output folder: encoder.safetensors + encoder.json (layers) or
    /// adapter.safetensors + adapter.json (adapter), and checkpoints/.
    #[arg(long)]
    out: PathBuf,
    /// What is trained.
    #[arg(long, value_enum, default_value = "layers")]
    method: Method,
    /// Replace the files of an earlier run in --out.
    #[arg(long)]
    force: bool,
    /// The shared data folder (default: $XLQA_DATA or ../shared/data).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Only these languages (comma-separated; English, the pivot, is always
    /// kept). Default: every language of the training sources.
    #[arg(long, value_delimiter = ',')]
    langs: Vec<String>,
    /// Tatoeba pairs per language (0: none).
    #[arg(long, default_value_t = 100)]
    tatoeba_per_lang: usize,
    /// XOR-TyDi question translation pairs per language (0: none).
    #[arg(long, default_value_t = 500)]
    xor_per_lang: usize,
    /// TyDi GoldP train question ↔ answer-sentence pairs per language (0: none).
    #[arg(long, default_value_t = 1000)]
    tydi_per_lang: usize,
    /// Adapter: what it is trained on and applied to: center (vectors
    /// centered per language, as `xlqa index` stores them) or raw.
    #[arg(long, default_value = "center")]
    input: String,
    /// in-batch (learnable-scale sampled softmax), dpr (in-batch plus hard
    /// negatives; layers only) or mixcse. Default: dpr (layers), in-batch (adapter).
    #[arg(long)]
    loss: Option<Loss>,
    /// xy (languages mixed within a batch) or mono (one source language pair per batch).
    #[arg(long, default_value = "xy")]
    batching: Batching,
    /// Default: 1 (layers), 3 (adapter).
    #[arg(long)]
    epochs: Option<usize>,
    /// Pairs per training batch. Default: 64 (layers), 128 (adapter).
    #[arg(long)]
    train_batch_size: Option<usize>,
    /// Peak learning rate. Default: 3e-5 (layers, linear warm-up and decay), 1e-3 (adapter).
    #[arg(long)]
    lr: Option<f64>,
    /// Weight of the regularizer: layers: mean squared distance of every
    /// token's output from the base model's; adapter: ‖W − I‖².
    #[arg(long, default_value_t = 1.0)]
    reg: f64,
    /// Layers: number of trained top layers (the lower ones stay the base model's).
    #[arg(long, default_value_t = 3)]
    train_layers: usize,
    /// Layers: weight of the word-alignment loss on translation pairs (Cao et al. 2020; 0: off).
    #[arg(long, default_value_t = 1.0)]
    align_weight: f64,
    /// Layers, dpr: hard negatives per question (other sentences of its TyDi passage).
    #[arg(long, default_value_t = 1)]
    hard_negatives: usize,
    /// Layers: texts are cut to this many word-pieces.
    #[arg(long, default_value_t = 128)]
    max_tokens: usize,
    /// Layers: name of the fine-tuned encoder (its id is `<base id>+<name>`).
    #[arg(long, default_value = "xlqa-align")]
    name: String,
    #[arg(long, default_value_t = 13)]
    seed: u64,
    /// Stop after this many steps (0: all epochs); for smoke tests.
    #[arg(long, default_value_t = 0)]
    max_steps: usize,
    /// Every N-th pair is held out to report a dev loss and accuracy.
    #[arg(long, default_value_t = 50)]
    dev_every: usize,
    /// Embedding cache folder (default: $XLQA_HOME/cache/embeddings).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    #[command(flatten)]
    enc: crate::EncoderArgs,
    /// No progress output.
    #[arg(long)]
    quiet: bool,
}

/// Which encoder prefix each side of a source's pairs gets.
fn kinds(source: &str) -> (TextKind, TextKind) {
    match source {
        "xor" => (TextKind::Query, TextKind::Query),
        "tydi" => (TextKind::Query, TextKind::Passage),
        _ => (TextKind::Passage, TextKind::Passage),
    }
}

struct Side<'a> {
    text: &'a str,
    lang: String,
    kind: TextKind,
}

/// Reads one source for `langs` (all of its languages when empty); a
/// language the source has no file for is skipped and returned, since every
/// source covers different languages.
fn read_some(
    langs: &[Lang],
    read: impl Fn(&[Lang]) -> Result<(Vec<Pair>, ReadSummary), DataError>,
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

pub fn run(a: TrainEncoderArgs) -> Result<()> {
    let t0 = Instant::now();
    let show = !a.quiet;
    let center = match a.input.as_str() {
        "center" => true,
        "raw" => false,
        other => bail!("--input: '{other}' (expected center or raw)"),
    };
    let dir = crate::data_dir(a.data.clone())?;
    let langs = a
        .langs
        .iter()
        .map(|l| Lang::parse(l.trim()).with_context(|| format!("--langs: '{l}'")))
        .collect::<Result<Vec<_>>>()?;
    let mut filter = langs.clone();
    if !filter.is_empty() && !filter.iter().any(|l| l.as_str() == "en") {
        filter.push(Lang::parse("en")?);
    }
    let per = |n: usize| if n == 0 { None } else { Some(n) };
    // 1. pairs
    let mut sources: Vec<(&str, Vec<Pair>)> = Vec::new();
    let mut summaries = serde_json::Map::new();
    let mut note = |name: &str, s: &ReadSummary, missing: &[String]| -> Result<()> {
        let mut v = serde_json::to_value(s)?;
        v["langs_without_data"] = serde_json::json!(missing);
        summaries.insert(name.to_string(), v);
        Ok(())
    };
    if a.tatoeba_per_lang > 0 {
        let tdir = dir.join("tatoeba_laser_v1");
        let (p, s, missing) = read_some(&filter, |l| {
            data::read_tatoeba(&tdir, l, per(a.tatoeba_per_lang))
        })?;
        note("tatoeba", &s, &missing)?;
        sources.push(("tatoeba", p));
    }
    let xor_dir = dir.join("xor_tydi_question_translations");
    let (xor_all, _, _) = read_some(&filter, |l| data::read_xor_translations(&xor_dir, l, None))?;
    if a.xor_per_lang > 0 {
        let (p, s, missing) = read_some(&filter, |l| {
            data::read_xor_translations(&xor_dir, l, per(a.xor_per_lang))
        })?;
        note("xor", &s, &missing)?;
        sources.push(("xor", p));
    }
    if a.tydi_per_lang > 0 {
        let map = data::translation_map(&xor_all);
        let tdir = dir.join("tydiqa_goldp_v1.1").join("train_partial");
        let (p, s, missing) = read_some(&filter, |l| {
            data::read_tydi_train(&tdir, l, per(a.tydi_per_lang), Some(&map))
        })?;
        note("tydi", &s, &missing)?;
        sources.push(("tydi", p));
    }
    let n_pairs: usize = sources.iter().map(|(_, p)| p.len()).sum();
    if n_pairs == 0 {
        bail!("no training pairs: check --langs and the per-language limits");
    }
    if show {
        for (name, p) in &sources {
            eprintln!("{name}: {} pairs", p.len());
        }
    }

    let meta_file = match a.method {
        Method::Layers => xlqa_models::delta::DELTA_META,
        Method::Adapter => "adapter.json",
    };
    if a.out.join(meta_file).exists() && !a.force {
        bail!(
            "{} already holds a trained model ({meta_file}); pass --force to replace it",
            a.out.display()
        );
    }
    if a.method == Method::Layers {
        return run_layers(&a, &sources, serde_json::Value::Object(summaries), t0);
    }
    if a.loss == Some(Loss::Dpr) {
        bail!("--loss dpr needs hard negatives, which only --method layers has");
    }

    // 2. embeddings (through the cache), one list per prefix, deduplicated
    let home = crate::home()?;
    let enc: Encoder = crate::load_encoder(
        &home,
        &crate::EncoderArgs {
            encoder: Some(a.enc.encoder.clone().unwrap_or_else(|| "base".into())),
            ..a.enc.clone()
        },
    )?;
    let cache_dir = a
        .cache_dir
        .clone()
        .unwrap_or_else(|| home.root().join("cache").join("embeddings"));
    let mut cache = EmbeddingCache::open(&cache_dir, &enc)?;
    let mut sides: Vec<(Side, Side, String)> = Vec::new();
    for (name, pairs) in &sources {
        let (ka, kb) = kinds(name);
        for p in pairs {
            sides.push((
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
    let mut vecs: HashMap<(bool, &str), Vec<f32>> = HashMap::new();
    let t_enc = Instant::now();
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
        let (v, stats) = cache.encode(&enc, &texts, kind, 512, &|done, _| {
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
    let encode_s = t_enc.elapsed().as_secs_f64();
    let get = |s: &Side| -> Result<Vec<f32>> {
        vecs.get(&(s.kind == TextKind::Query, s.text))
            .cloned()
            .context("internal: a training text was not embedded")
    };
    let mut pairs: Vec<VecPair> = Vec::with_capacity(sides.len());
    let mut langs_of: Vec<(String, String, bool, bool)> = Vec::new();
    for (x, y, group) in &sides {
        pairs.push(VecPair {
            a: get(x)?,
            b: get(y)?,
            group: group.clone(),
        });
        langs_of.push((
            x.lang.clone(),
            y.lang.clone(),
            x.kind == TextKind::Query,
            y.kind == TextKind::Query,
        ));
    }

    // 3. centering, as `xlqa index` does: passage means by language; queries
    //    use their language's passage mean (their own mean where a language
    //    has no passages)
    let mut centering = None;
    if center {
        let mut pg: BTreeMap<String, Vec<&[f32]>> = BTreeMap::new();
        let mut qg: BTreeMap<String, Vec<&[f32]>> = BTreeMap::new();
        for (p, (la, lb, qa, qb)) in pairs.iter().zip(&langs_of) {
            for (v, l, q) in [(&p.a, la, qa), (&p.b, lb, qb)] {
                let g = if *q { &mut qg } else { &mut pg };
                g.entry(l.clone()).or_default().push(v.as_slice());
            }
        }
        let dp = Debias::fit(DebiasMethod::Center, &pg, 1)?;
        let dq = Debias::fit(DebiasMethod::Center, &qg, 1)?;
        drop((pg, qg));
        for (p, (la, lb, qa, qb)) in pairs.iter_mut().zip(&langs_of) {
            for (v, l, q) in [(&mut p.a, la, qa), (&mut p.b, lb, qb)] {
                let d = if *q && !dp.means.contains_key(l) {
                    &dq
                } else {
                    &dp
                };
                d.apply(l, v)?;
            }
        }
        centering = Some(dp.fitted_langs());
        std::fs::create_dir_all(&a.out)
            .with_context(|| format!("cannot create {}", a.out.display()))?;
        let cpath = a.out.join("centering.json");
        std::fs::write(&cpath, serde_json::to_string(&dp)? + "\n")
            .with_context(|| format!("cannot write {}", cpath.display()))?;
    }

    // 4. training
    let cfg = TrainConfig {
        seed: a.seed,
        epochs: a.epochs.unwrap_or(3),
        batch_size: a.train_batch_size.unwrap_or(128),
        lr: a.lr.unwrap_or(1e-3),
        loss: a.loss.unwrap_or(Loss::InBatch),
        batching: a.batching,
        reg: a.reg,
        max_steps: a.max_steps,
        ..TrainConfig::default()
    };
    let (train, dev) = trainer::split_dev(pairs, a.dev_every, a.seed);
    if show {
        eprintln!(
            "training on {} pairs ({} held out), {} epochs of batches of {}, loss {:?}, batching {:?}",
            train.len(),
            dev.len(),
            cfg.epochs,
            cfg.batch_size,
            cfg.loss,
            cfg.batching
        );
    }
    let dim = enc.dim();
    let recipe = serde_json::json!({
        "config": cfg,
        "input": a.input,
        "sources": summaries,
        "per_lang": {"tatoeba": a.tatoeba_per_lang, "xor": a.xor_per_lang, "tydi": a.tydi_per_lang},
        "langs": a.langs,
        "dev_every": a.dev_every,
        "train_pairs": train.len(),
        "dev_pairs": dev.len(),
        "centered_langs": centering,
        "command": std::env::args().collect::<Vec<_>>().join(" "),
    });
    let meta = |log: serde_json::Value| AdapterMeta {
        format: ADAPTER_FORMAT.into(),
        dim,
        encoder: enc.id().to_string(),
        encoder_sha256: enc.weights_sha256().to_string(),
        input: a.input.clone(),
        weights_sha256: String::new(),
        recipe: recipe.clone(),
        log,
    };
    let t_train = Instant::now();
    let pb = bar(
        trainer::total_steps(&train, &cfg) as u64,
        "training steps",
        show,
    );
    let ckpt_dir = a.out.join("checkpoints");
    let mut logs = Vec::new();
    let (w, log) = trainer::train(
        &train,
        &dev,
        &cfg,
        &|step, _, _| pb.set_position(step as u64),
        &mut |e, w| {
            logs.push(serde_json::to_value(e).unwrap_or_default());
            let mut ad = Adapter {
                meta: meta(serde_json::Value::Array(logs.clone())),
                weight: w.to_vec(),
            };
            ad.save(&ckpt_dir.join(format!("epoch-{}", e.epoch)))
                .map_err(|err| xlqa_train::TrainError::Config(err.to_string()))?;
            if show {
                pb.println(&format!(
                    "epoch {}: train loss {:.4}, held-out loss {:.4}, held-out top-1 {:.3}, scale {:.1}, ‖W−I‖ {:.3}",
                    e.epoch,
                    e.train_loss.unwrap_or(f64::NAN),
                    e.dev_loss,
                    e.dev_acc,
                    e.scale,
                    e.w_minus_i
                ));
            }
            Ok(())
        },
    )?;
    pb.finish_and_clear();
    let train_s = t_train.elapsed().as_secs_f64();
    let mut ad = Adapter {
        meta: meta(serde_json::json!({
            "epochs": log,
            "encode_s": encode_s,
            "train_s": train_s,
            "total_s": t0.elapsed().as_secs_f64(),
        })),
        weight: w,
    };
    ad.save(&a.out)?;
    println!(
        "adapter written to {} (sha256 {}); training took {train_s:.0} s after {encode_s:.0} s of encoding",
        a.out.display(),
        ad.meta.weights_sha256
    );
    Ok(())
}

/// `--method layers`: fine-tunes the top layers on cached lower-layer states.
fn run_layers(
    a: &TrainEncoderArgs,
    sources: &[(&str, Vec<Pair>)],
    summaries: serde_json::Value,
    t0: Instant,
) -> Result<()> {
    use xlqa_models::delta::{save_delta, DeltaMeta, DELTA_FORMAT};
    use xlqa_train::finetune::{self, FinetuneConfig, FtModel, SourcePairs};
    let show = !a.quiet;
    let cfg = FinetuneConfig {
        seed: a.seed,
        epochs: a.epochs.unwrap_or(1),
        batch_size: a.train_batch_size.unwrap_or(64),
        lr: a.lr.unwrap_or(3e-5),
        loss: a.loss.unwrap_or(Loss::Dpr),
        batching: a.batching,
        train_layers: a.train_layers,
        reg: a.reg,
        align_weight: a.align_weight,
        hard_negatives: a.hard_negatives,
        max_tokens: a.max_tokens,
        max_steps: a.max_steps,
        ..FinetuneConfig::default()
    };
    if a.enc.encoder.is_some() {
        bail!("--encoder: training starts from the base encoder; leave it out");
    }
    let home = crate::home()?;
    // the trainable copies need f32 weights; the lower layers run with the
    // inference kernels (int8 by default), as they will at inference
    let base_args = crate::EncoderArgs {
        encoder: Some("base".into()),
        ..a.enc.clone()
    };
    let base = crate::load_encoder(&home, &base_args)?;
    let f32_enc = crate::load_f32_encoder(&home)?;
    let model = FtModel::from_encoder(&f32_enc, &cfg)?;
    drop(f32_enc);
    let list: Vec<SourcePairs> = sources
        .iter()
        .map(|(name, p)| SourcePairs {
            name,
            pairs: p,
            kinds: kinds(name),
        })
        .collect();
    let t_cache = Instant::now();
    let n_texts: usize = sources.iter().map(|(_, p)| 2 * p.len()).sum();
    let pb = bar(n_texts as u64, "lower-layer states", show);
    let mut prep = finetune::prepare(&base, &list, &cfg, &|done, total| {
        pb.set_length(total as u64);
        pb.set_position(done as u64)
    })?;
    pb.finish_and_clear();
    let cache_s = t_cache.elapsed().as_secs_f64();
    if show {
        eprintln!(
            "{} distinct texts through layers 0..{} in {cache_s:.0} s; {} aligned word pairs in the translation pairs",
            prep.texts.len(),
            prep.from_layer,
            prep.aligned_tokens
        );
    }
    let (train, dev) = finetune::split_dev(std::mem::take(&mut prep.pairs), a.dev_every, a.seed);
    if show {
        eprintln!(
            "training layers {}..{} on {} pairs ({} held out), {} epoch(s) of batches of {}, loss {:?}, batching {:?}, align {}, reg {}",
            prep.from_layer,
            prep.from_layer + cfg.train_layers,
            train.len(),
            dev.len(),
            cfg.epochs,
            cfg.batch_size,
            cfg.loss,
            cfg.batching,
            cfg.align_weight,
            cfg.reg
        );
    }
    let recipe = serde_json::json!({
        "method": "layers",
        "config": cfg,
        "sources": summaries,
        "per_lang": {"tatoeba": a.tatoeba_per_lang, "xor": a.xor_per_lang, "tydi": a.tydi_per_lang},
        "langs": a.langs,
        "dev_every": a.dev_every,
        "train_pairs": train.len(),
        "dev_pairs": dev.len(),
        "distinct_texts": prep.texts.len(),
        "aligned_word_pairs": prep.aligned_tokens,
        "lower_precision": base.options().precision.to_string(),
        "command": std::env::args().collect::<Vec<_>>().join(" "),
    });
    let meta = |log: serde_json::Value| DeltaMeta {
        format: DELTA_FORMAT.into(),
        name: a.name.clone(),
        base_encoder: base.id().to_string(),
        base_weights_sha256: base.weights_sha256().to_string(),
        from_layer: prep.from_layer,
        layers: cfg.train_layers,
        weights_sha256: String::new(),
        recipe: recipe.clone(),
        log,
    };
    let t_train = Instant::now();
    let pb = bar(
        finetune::total_steps(&train, &cfg) as u64,
        "training steps",
        show,
    );
    let ckpt_dir = a.out.join("checkpoints");
    let mut logs = Vec::new();
    let log = finetune::train(
        &model,
        &prep,
        &train,
        &dev,
        &cfg,
        &|step, _, _| pb.set_position(step as u64),
        &mut |e, m| {
            logs.push(serde_json::to_value(e).unwrap_or_default());
            let mut dm = meta(serde_json::Value::Array(logs.clone()));
            save_delta(
                &ckpt_dir.join(format!("epoch-{}", e.epoch)),
                &mut dm,
                &m.top,
            )?;
            if show {
                let t = e.train.unwrap_or_default();
                pb.println(&format!(
                    "epoch {}: train contrastive {:.4} (top-1 {:.3}), align {:.4}, reg {:.4}; held-out loss {:.4}, top-1 {:.3}; scale {:.1}; {:.0} s",
                    e.epoch, t.contrastive, t.acc, t.align, t.reg, e.dev_loss, e.dev_acc, e.scale, e.seconds
                ));
            }
            Ok(())
        },
    )?;
    pb.finish_and_clear();
    if show {
        if let Some(e0) = log.first() {
            eprintln!(
                "base model: held-out loss {:.4}, top-1 {:.3}",
                e0.dev_loss, e0.dev_acc
            );
        }
    }
    let train_s = t_train.elapsed().as_secs_f64();
    let mut dm = meta(serde_json::json!({
        "epochs": log,
        "cache_s": cache_s,
        "train_s": train_s,
        "total_s": t0.elapsed().as_secs_f64(),
    }));
    save_delta(&a.out, &mut dm, &model.top)?;
    println!(
        "fine-tuned encoder {} written to {} (layers {}..{}, sha256 {}); {cache_s:.0} s of lower-layer states, {train_s:.0} s of training",
        dm.encoder_id(),
        a.out.display(),
        dm.from_layer,
        dm.from_layer + dm.layers,
        dm.weights_sha256
    );
    Ok(())
}
