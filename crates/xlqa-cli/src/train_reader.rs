//! `xlqa train reader`: trains the extractive span reader.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use xlqa_models::span::{ReaderMeta, SpanConfig, SpanModel, READER_FORMAT};
use xlqa_models::{Encoder, EncoderOptions};
use xlqa_search::indexer::bar;
use xlqa_train::reader::{self, ReaderTrainConfig};

#[derive(Args)]
pub struct TrainReaderArgs {
    /// Output folder: reader.safetensors, reader.json, checkpoints/.
    #[arg(long)]
    out: PathBuf,
    /// Replace the reader files in --out.
    #[arg(long)]
    force: bool,
    /// The shared data folder (default: $XLQA_DATA or ../shared/data).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Frozen lower layers (the rest of the 12 are trained).
    #[arg(long, default_value_t = 9)]
    frozen_layers: usize,
    #[arg(long, default_value_t = 2)]
    epochs: usize,
    /// Windows per step.
    #[arg(long, default_value_t = 16)]
    train_batch_size: usize,
    #[arg(long, default_value_t = 1e-4)]
    lr: f64,
    #[arg(long, default_value_t = 13)]
    seed: u64,
    /// Share of the windows without the answer that are kept (they teach "no answer").
    #[arg(long, default_value_t = 0.5)]
    keep_negative: f64,
    /// Do not add the Korean passages with English questions (XOR-TyDi ko-en translations).
    #[arg(long)]
    no_aug: bool,
    /// Only the first N TyDi training questions per language (for tests).
    #[arg(long)]
    per_lang: Option<usize>,
    /// Stop after this many steps (0: all epochs); the schedule is fitted to them.
    #[arg(long, default_value_t = 0)]
    max_steps: usize,
    /// Stop after this many epochs, keeping the schedule of --epochs (the
    /// weights are that epoch's checkpoint of the full run).
    #[arg(long, default_value_t = 0)]
    stop_after_epochs: usize,
    /// Longest joined context (pieces) when pairing training passages (0: no pairing).
    #[arg(long, default_value_t = 200)]
    pair_max_pieces: usize,
    /// Every N-th training question (by id hash) is held out for the dev loss.
    #[arg(long, default_value_t = 30)]
    dev_every: u64,
    /// Tokens per window.
    #[arg(long, default_value_t = 256)]
    max_seq: usize,
    /// No progress output.
    #[arg(long)]
    quiet: bool,
}

pub fn run(a: TrainReaderArgs) -> Result<()> {
    let t0 = Instant::now();
    let show = !a.quiet;
    let data = crate::data_dir(a.data.clone())?;
    let out = &a.out;
    let weights = out.join("reader.safetensors");
    if weights.exists() && !a.force {
        bail!("{} exists; pass --force to replace it", weights.display());
    }
    std::fs::create_dir_all(out.join("checkpoints"))
        .with_context(|| format!("creating {}", out.display()))?;
    let cfg = ReaderTrainConfig {
        lower: a.frozen_layers,
        epochs: a.epochs,
        batch: a.train_batch_size,
        lr: a.lr,
        seed: a.seed,
        max_steps: a.max_steps,
        stop_after_epochs: a.stop_after_epochs,
        keep_negative: a.keep_negative,
        span: SpanConfig {
            max_seq: a.max_seq,
            ..SpanConfig::default()
        },
        ..ReaderTrainConfig::default()
    };
    if !(0.0..=1.0).contains(&cfg.keep_negative) {
        bail!("--keep-negative must be within 0..=1");
    }
    let (examples, info) = reader::read_reader_data(&data, !a.no_aug, a.per_lang)
        .context("reading the training data")?;
    if show {
        for (k, n) in &info.counts {
            eprintln!("{k}: {n} questions");
        }
        if info.bad_answers > 0 {
            eprintln!(
                "{} questions skipped: answer not found in the passage",
                info.bad_answers
            );
        }
    }
    let home = crate::home()?;
    // the trainable copies need f32 weights; the cache uses the inference kernels
    let f32_enc = crate::load_f32_encoder(&home)?;
    if cfg.lower >= f32_enc.num_layers() {
        bail!(
            "--frozen-layers {} leaves nothing to train (the encoder has {} layers)",
            cfg.lower,
            f32_enc.num_layers()
        );
    }
    let model = SpanModel::from_encoder(&f32_enc, cfg.lower, cfg.seed)?;
    drop(f32_enc);
    let enc = Encoder::load(&home, EncoderOptions::default()).context("loading the encoder")?;
    let h = enc.dim();

    let (tr, dv) = reader::split_held_out(&examples, a.dev_every);
    let pick = |ix: &[usize]| ix.iter().map(|&i| examples[i].clone()).collect::<Vec<_>>();
    let (mut train_ex, dev_ex) = (pick(&tr), pick(&dv));
    let plain = train_ex.len();
    if a.pair_max_pieces > 0 {
        train_ex = reader::pair_contexts(&enc, &train_ex, a.pair_max_pieces, cfg.seed);
        let paired = train_ex.iter().filter(|e| e.id.ends_with("+pair")).count();
        if show {
            eprintln!(
                "{paired} of {plain} training questions read over a joined pair of passages \
                 (≤ {} pieces)",
                a.pair_max_pieces
            );
        }
    }
    let t_cache = Instant::now();
    let cached = |what: &str, ex: &[reader::ReaderExample]| {
        let pb = std::cell::RefCell::new(None);
        let progress = |d: usize, t: usize| {
            let mut pb = pb.borrow_mut();
            pb.get_or_insert_with(|| bar(t as u64, what, show))
                .set_position(d as u64);
        };
        let items = reader::cache_items(&enc, ex, &cfg, &progress);
        if let Some(pb) = pb.borrow().as_ref() {
            pb.finish_and_clear();
        }
        items
    };
    let train_items = cached("windows", &train_ex)?;
    let dev_items = cached("held out", &dev_ex)?;
    let cache_s = t_cache.elapsed().as_secs_f64();
    if show {
        eprintln!(
            "cached layer-{} states of {} training and {} held-out windows in {cache_s:.0} s",
            cfg.lower,
            train_items.len(),
            dev_items.len()
        );
    }
    let per_epoch = train_items.len().div_ceil(cfg.batch.max(1));
    let total = if cfg.max_steps > 0 {
        cfg.max_steps.min(per_epoch * cfg.epochs)
    } else {
        per_epoch * cfg.epochs
    };
    let pb = bar(total as u64, "training", show);
    let step_cb = |s: usize, _t: usize, l: f64| {
        pb.set_position(s as u64);
        if s.is_multiple_of(50) {
            pb.println(&format!("step {s}/{total}: loss {l:.4}"));
        }
    };
    let ckpt = out.join("checkpoints");
    let mut on_epoch = |e: &reader::ReaderEpoch| -> Result<(), reader::ReaderTrainError> {
        let p = ckpt.join(format!("epoch-{}.safetensors", e.epoch));
        model.save(&p)?;
        if show {
            pb.println(&format!(
                "epoch {}: train loss {:.4}, held-out loss {:.4}, exact span {:.3} ({:.0} s) → {}",
                e.epoch,
                e.train_loss.unwrap_or(f64::NAN),
                e.dev_loss,
                e.dev_exact_span,
                e.seconds,
                p.display()
            ));
        }
        Ok(())
    };
    let log = reader::train_reader(
        &model,
        &train_items,
        &dev_items,
        &cfg,
        h,
        &step_cb,
        &mut on_epoch,
    )?;
    pb.finish_and_clear();
    let sha = model.save(&weights)?;
    let meta = ReaderMeta {
        format: READER_FORMAT.to_string(),
        encoder_id: enc.id().to_string(),
        encoder_sha256: enc.weights_sha256().to_string(),
        lower_precision: enc.options().precision.to_string(),
        lower_layers: cfg.lower,
        trained_layers: enc.num_layers() - cfg.lower,
        config: cfg.span,
        weights_sha256: sha,
        recipe: serde_json::json!({
            "command": std::env::args().collect::<Vec<_>>().join(" "),
            "config": cfg,
            "data": info,
            "train_windows": train_items.len(),
            "pair_max_pieces": a.pair_max_pieces,
            "paired_questions": train_ex.iter().filter(|e| e.id.ends_with("+pair")).count(),
            "held_out_windows": dev_items.len(),
            "held_out_every": a.dev_every,
            "epochs": log,
            "cache_seconds": cache_s,
            "total_seconds": t0.elapsed().as_secs_f64(),
            "threads": rayon_threads(),
        }),
    };
    let mp = out.join("reader.json");
    std::fs::write(&mp, serde_json::to_string_pretty(&meta)? + "\n")
        .with_context(|| format!("writing {}", mp.display()))?;
    if show {
        eprintln!(
            "wrote {} and {} in {:.0} s",
            weights.display(),
            mp.display(),
            t0.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn rayon_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
