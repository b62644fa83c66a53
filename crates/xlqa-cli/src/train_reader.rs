//! `xlqa train reader`: flags → [`xlqa_train::reader_job::ReaderJob`], progress on stderr.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::Args;
use xlqa_core::progress::{bar, Progress};
use xlqa_models::span::SpanConfig;
use xlqa_train::reader_job::{run_reader_job, ReaderJob};
use xlqa_train::reader_plan::PlanConfig;
use xlqa_train::reader_run::{RunControl, RunObserver, StepConfig};

#[derive(Args)]
pub struct TrainReaderArgs {
    /// Output folder: reader.safetensors, reader.json, checkpoint/.
    #[arg(long)]
    out: PathBuf,
    /// Replace the reader files in --out.
    #[arg(long)]
    force: bool,
    /// Continue from --out/checkpoint (same options and data as the run that wrote it).
    #[arg(long)]
    resume: bool,
    /// SQuAD-format training files or folders (repeatable). Default: the
    /// shared qa_train/ folder plus TyDi GoldP train (en, ko, sw).
    #[arg(long = "data")]
    data: Vec<PathBuf>,
    /// The shared data folder for the default --data (default: $XLQA_DATA or ../shared/data).
    #[arg(long)]
    shared_data: Option<PathBuf>,
    /// XTREME's zero-shot setting: SQuAD v1.1 train only.
    #[arg(long, conflicts_with = "data")]
    en_only: bool,
    /// Frozen lower layers (the rest of the 12 are trained).
    #[arg(long, default_value_t = 9)]
    frozen_layers: usize,
    /// Optimizer steps (the whole schedule).
    #[arg(long, default_value_t = 2000)]
    steps: usize,
    /// Windows per step.
    #[arg(long, default_value_t = 16)]
    train_batch_size: usize,
    #[arg(long, default_value_t = 1.5e-4)]
    lr: f64,
    /// Learning-rate factor per layer below the top (1: the same rate for all).
    #[arg(long, default_value_t = 1.0)]
    layer_decay: f64,
    #[arg(long, default_value_t = 13)]
    seed: u64,
    /// Language sampling exponent: P(lang) ∝ questions^alpha.
    #[arg(long, default_value_t = 0.5)]
    alpha: f64,
    /// Negative (no-answer) windows per drawn question.
    #[arg(long, default_value_t = 0.3)]
    negative_rate: f64,
    /// Tokens per window.
    #[arg(long, default_value_t = 256)]
    max_seq: usize,
    /// Every N-th paragraph (by hash) is held out for the held-out numbers.
    #[arg(long, default_value_t = 50)]
    dev_every: u64,
    /// Held-out windows evaluated.
    #[arg(long, default_value_t = 600)]
    dev_windows: usize,
    /// Minutes between checkpoints.
    #[arg(long, default_value_t = 10.0)]
    checkpoint_minutes: f64,
    /// Stop after this many steps with a checkpoint (resume later; the schedule is kept).
    #[arg(long)]
    stop_after_steps: Option<usize>,
    /// Stop after this many minutes with a checkpoint (resume later).
    #[arg(long)]
    time_budget_minutes: Option<f64>,
    /// Held-out evaluation every N steps (0: at checkpoints only).
    #[arg(long, default_value_t = 250)]
    eval_every: usize,
    /// Only the first N questions of each file (for tests).
    #[arg(long)]
    per_file: Option<usize>,
    /// No progress output.
    #[arg(long)]
    quiet: bool,
}

struct Observer {
    pb: Progress,
    show: bool,
    /// Whether steps carry a training loss worth printing.
    losses: bool,
    /// When the first step of this process was seen, and its number.
    since: std::cell::Cell<Option<(std::time::Instant, usize)>>,
    loss: std::cell::Cell<(f64, usize)>,
}

/// A line with the rate and the time left every this many steps.
const LINE_EVERY: usize = 25;

impl RunObserver for Observer {
    fn step(&self, step: usize, total: usize, loss: f64) {
        self.pb.set_length(total as u64);
        self.pb.set_position(step as u64);
        let (t0, first) = self
            .since
            .get()
            .unwrap_or((std::time::Instant::now(), step - 1));
        self.since.set(Some((t0, first)));
        let (sum, n) = self.loss.get();
        let (sum, n) = (sum + loss, n + 1);
        self.loss.set((sum, n));
        if step.is_multiple_of(LINE_EVERY) || step == total {
            let per = t0.elapsed().as_secs_f64() / (step - first) as f64;
            let left = per * (total - step) as f64;
            let loss = if self.losses {
                format!(" loss {:.4},", sum / n as f64)
            } else {
                String::new()
            };
            self.note(&format!(
                "step {step}/{total}:{loss} {per:.2} s/step, eta {}h{:02}m",
                (left / 3600.0) as u64,
                ((left % 3600.0) / 60.0) as u64
            ));
            self.loss.set((0.0, 0));
        }
    }
    fn note(&self, line: &str) {
        if self.show {
            self.pb.println(line);
        }
    }
}

fn minutes(m: f64, flag: &str) -> Result<Duration> {
    if !(m.is_finite() && m > 0.0) {
        bail!("{flag} must be a positive number of minutes");
    }
    Ok(Duration::from_secs_f64(m * 60.0))
}

pub fn run(a: TrainReaderArgs) -> Result<()> {
    if !(0.0..=1.0).contains(&a.negative_rate) {
        bail!("--negative-rate must be within 0..=1");
    }
    let sources = if a.data.is_empty() {
        xlqa_train::qa_data::default_sources(&crate::data_dir(a.shared_data.clone())?, a.en_only)
    } else {
        a.data.clone()
    };
    let plan = PlanConfig {
        steps: a.steps,
        batch: a.train_batch_size,
        alpha: a.alpha,
        negative_rate: a.negative_rate,
        seed: a.seed,
        span: SpanConfig {
            max_seq: a.max_seq,
            ..SpanConfig::default()
        },
    };
    let job = ReaderJob {
        out: a.out.clone(),
        force: a.force,
        resume: a.resume,
        sources,
        per_file: a.per_file,
        dev_every: a.dev_every,
        dev_windows: a.dev_windows,
        step: StepConfig {
            lower: a.frozen_layers,
            lr: a.lr,
            warmup: 0.1,
            weight_decay: 0.01,
            layer_decay: a.layer_decay,
            plan,
        },
        control: RunControl {
            checkpoint_every: minutes(a.checkpoint_minutes, "--checkpoint-minutes")?,
            stop_after_steps: a.stop_after_steps,
            time_budget: a
                .time_budget_minutes
                .map(|m| minutes(m, "--time-budget-minutes"))
                .transpose()?,
            eval_every: a.eval_every,
        },
        command: std::env::args().collect::<Vec<_>>().join(" "),
    };
    let obs = Observer {
        pb: bar(a.steps as u64, "training", !a.quiet),
        show: !a.quiet,
        losses: true,
        since: std::cell::Cell::new(None),
        loss: std::cell::Cell::new((0.0, 0)),
    };
    let rep = run_reader_job(&job, &crate::home()?, &obs)?;
    obs.pb.finish_and_clear();
    if !rep.finished {
        eprintln!(
            "stopped at step {} of {}; continue with the same command and --resume",
            rep.step, rep.total_steps
        );
    }
    Ok(())
}

#[derive(Args)]
pub struct CalibrateArgs {
    /// The reader folder (its reader.json gets the fitted calibration).
    #[arg(long)]
    reader_dir: PathBuf,
    /// The reader's training data (default: as `xlqa train reader`); its
    /// held-out paragraphs are the calibration pool.
    #[arg(long = "data")]
    data: Vec<PathBuf>,
    /// The shared data folder for the default --data.
    #[arg(long)]
    shared_data: Option<PathBuf>,
    /// Held-out questions per language.
    #[arg(long, default_value_t = 60)]
    per_lang: usize,
    /// Passages read per question.
    #[arg(long, default_value_t = 5)]
    top: usize,
    #[arg(long)]
    quiet: bool,
}

pub fn calibrate(a: CalibrateArgs) -> Result<()> {
    let sources = if a.data.is_empty() {
        xlqa_train::qa_data::default_sources(&crate::data_dir(a.shared_data.clone())?, false)
    } else {
        a.data.clone()
    };
    let job = xlqa_train::calibrate::CalibrateJob {
        reader_dir: a.reader_dir.clone(),
        sources,
        per_lang: a.per_lang,
        top: a.top,
    };
    let obs = Observer {
        pb: bar(0, "reading", !a.quiet),
        show: !a.quiet,
        losses: false,
        since: std::cell::Cell::new(None),
        loss: std::cell::Cell::new((0.0, 0)),
    };
    let rep = xlqa_train::calibrate::run_calibration(&job, &crate::home()?, &obs)?;
    obs.pb.finish_and_clear();
    println!("{}", serde_json::to_string_pretty(&rep)?);
    if rep.at_grid_edge {
        eprintln!(
            "warning: a fitted weight is the largest the grid holds; a larger one may fit better"
        );
    }
    Ok(())
}
