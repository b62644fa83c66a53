//! `xlqa train encoder`: cross-lingual alignment training, either of the
//! encoder's top layers (`--method layers`, the default; writes a delta that
//! `xlqa index --encoder DIR` uses) or of a linear adapter on frozen
//! sentence vectors (`--method adapter`).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use xlqa_core::Lang;
use xlqa_train::encoder_job::{
    check_out, read_sources, train_adapter, train_layers, AdapterJob, Common, LayersJob, PerLang,
};
use xlqa_train::trainer::{Batching, Loss};

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

pub fn run(a: TrainEncoderArgs) -> Result<()> {
    let center = match a.input.as_str() {
        "center" => true,
        "raw" => false,
        other => bail!("--input: '{other}' (expected center or raw)"),
    };
    if a.method == Method::Layers && a.enc.encoder.is_some() {
        bail!("--encoder: training starts from the base encoder; leave it out");
    }
    let dir = crate::data_dir(a.data.clone())?;
    let langs = a
        .langs
        .iter()
        .map(|l| Lang::parse(l.trim()).with_context(|| format!("--langs: '{l}'")))
        .collect::<Result<Vec<_>>>()?;
    let common = common(&a);
    let sources = read_sources(&dir, &langs, common.per_lang)?;
    if !a.quiet {
        for (name, p) in &sources.lists {
            eprintln!("{name}: {} pairs", p.len());
        }
    }
    let meta_file = match a.method {
        Method::Layers => xlqa_models::delta::DELTA_META,
        Method::Adapter => "adapter.json",
    };
    check_out(&a.out, meta_file, a.force)?;
    let home = crate::home()?;
    let base = crate::load_encoder(
        &home,
        &crate::EncoderArgs {
            encoder: Some(a.enc.encoder.clone().unwrap_or_else(|| "base".into())),
            ..a.enc.clone()
        },
    )?;
    match a.method {
        Method::Layers => {
            let job = LayersJob {
                common,
                train_layers: a.train_layers,
                align_weight: a.align_weight,
                hard_negatives: a.hard_negatives,
                max_tokens: a.max_tokens,
                name: a.name.clone(),
            };
            let f32_enc = crate::load_f32_encoder(&home)?;
            let r = train_layers(&job, &base, f32_enc, &sources)?;
            println!(
                "fine-tuned encoder {} written to {} (layers {}..{}, sha256 {}); {:.0} s of lower-layer states, {:.0} s of training",
                r.meta.encoder_id(),
                a.out.display(),
                r.meta.from_layer,
                r.meta.from_layer + r.meta.layers,
                r.meta.weights_sha256,
                r.cache_s,
                r.train_s
            );
        }
        Method::Adapter => {
            let cache_dir = a
                .cache_dir
                .clone()
                .unwrap_or_else(|| home.root().join("cache").join("embeddings"));
            let job = AdapterJob {
                common,
                center,
                cache_dir,
            };
            let r = train_adapter(&job, &base, &sources)?;
            println!(
                "adapter written to {} (sha256 {}); training took {:.0} s after {:.0} s of encoding",
                a.out.display(),
                r.adapter.meta.weights_sha256,
                r.train_s,
                r.encode_s
            );
        }
    }
    Ok(())
}

fn common(a: &TrainEncoderArgs) -> Common {
    Common {
        out: a.out.clone(),
        seed: a.seed,
        epochs: a.epochs,
        batch_size: a.train_batch_size,
        lr: a.lr,
        loss: a.loss,
        batching: a.batching,
        reg: a.reg,
        max_steps: a.max_steps,
        dev_every: a.dev_every,
        per_lang: PerLang {
            tatoeba: a.tatoeba_per_lang,
            xor: a.xor_per_lang,
            tydi: a.tydi_per_lang,
        },
        langs: a.langs.clone(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        progress: !a.quiet,
    }
}
