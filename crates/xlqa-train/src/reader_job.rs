//! `xlqa train reader` end to end: data → stream → steps → `reader.json`.
//!
//! The CLI fills a [`ReaderJob`] from its flags and draws progress from a
//! [`RunObserver`]; everything else happens here, so a binding or a script
//! gets the same training from the library.

use std::path::PathBuf;

use xlqa_models::span::{ReaderMeta, SpanModel, READER_FORMAT};
use xlqa_models::{Encoder, EncoderOptions, ModelHome, Precision};

use crate::qa_data::{read_qa_sources, QaDataSummary};
use crate::reader::{ReaderTrainError, TrainWindow, WindowKind};
use crate::reader_plan::{build_plan, split_by_paragraph, Plan, PlanConfig};
use crate::reader_run::{DevSet, Run, RunControl, RunObserver, StepConfig};

/// Everything a training run needs to know.
#[derive(Debug, Clone)]
pub struct ReaderJob {
    /// Output folder: `reader.safetensors`, `reader.json`, `checkpoint/`.
    pub out: PathBuf,
    /// Replace an existing reader in `out`.
    pub force: bool,
    /// Continue from `out/checkpoint`.
    pub resume: bool,
    /// SQuAD-format files or folders.
    pub sources: Vec<PathBuf>,
    /// Keep the first N questions of each file (tests).
    pub per_file: Option<usize>,
    /// Every N-th paragraph (by hash) is held out.
    pub dev_every: u64,
    /// Held-out windows evaluated.
    pub dev_windows: usize,
    pub step: StepConfig,
    pub control: RunControl,
    /// The command line, for the recipe.
    pub command: String,
}

/// How the run went.
pub struct ReaderJobReport {
    pub finished: bool,
    pub step: usize,
    pub total_steps: usize,
}

/// Reads the data, builds the stream and trains (or resumes); writes the
/// reader files when the last step is done.
pub fn run_reader_job(
    job: &ReaderJob,
    home: &ModelHome,
    obs: &dyn RunObserver,
) -> Result<ReaderJobReport, ReaderTrainError> {
    let weights = job.out.join("reader.safetensors");
    if weights.exists() && !job.force && !job.resume {
        return Err(ReaderTrainError::Config(format!(
            "{} exists; pass --force to replace it",
            weights.display()
        )));
    }
    std::fs::create_dir_all(&job.out).map_err(|e| ReaderTrainError::File {
        path: job.out.clone(),
        message: e.to_string(),
    })?;
    let (examples, summary) = read_qa_sources(&job.sources, job.per_file)?;
    for (k, n) in &summary.files {
        obs.note(&format!("{k}: {n} questions"));
    }
    let (tr, dv) = split_by_paragraph(&examples, job.dev_every);
    let enc = Encoder::load(home, EncoderOptions::default())?;
    let f32_enc = Encoder::load(
        home,
        EncoderOptions {
            precision: Precision::F32,
            ..EncoderOptions::default()
        },
    )?;
    let lower = job.step.lower;
    if lower >= f32_enc.num_layers() {
        return Err(ReaderTrainError::Config(format!(
            "{lower} frozen layers leave nothing to train (the encoder has {} layers)",
            f32_enc.num_layers()
        )));
    }
    let model = SpanModel::from_encoder(&f32_enc, lower, job.step.plan.seed)?;
    drop(f32_enc);
    let plan = build_plan(&enc, &examples, &tr, &job.step.plan, &|_, _| {})?;
    describe_plan(&plan, obs);
    let dev = dev_windows(&enc, &examples, &dv, job)?;
    let dev = DevSet::new(&enc, dev, lower)?;
    obs.note(&format!(
        "{} held-out windows from {} held-out questions",
        dev.len(),
        dv.len()
    ));
    let run = Run {
        enc: &enc,
        model: &model,
        plan: &plan,
        dev: &dev,
        cfg: job.step,
        dir: job.out.clone(),
    };
    let outcome = run.run(job.resume, job.control, obs)?;
    // the reader files are written at every stop: a stopped run's files are
    // its checkpoint, marked unfinished in the recipe (`--resume` goes on)
    {
        let sha = model.save(&weights)?;
        let meta = ReaderMeta {
            format: READER_FORMAT.to_string(),
            encoder_id: enc.id().to_string(),
            encoder_sha256: enc.weights_sha256().to_string(),
            lower_precision: enc.options().precision.to_string(),
            lower_layers: lower,
            trained_layers: enc.num_layers() - lower,
            config: job.step.plan.span,
            weights_sha256: sha,
            recipe: recipe(
                job,
                &summary,
                &plan,
                &outcome.log,
                outcome.seconds,
                dv.len(),
            ),
            calibration: None,
        };
        let mp = job.out.join("reader.json");
        let text = serde_json::to_string_pretty(&meta)
            .map_err(|e| ReaderTrainError::Config(e.to_string()))?
            + "\n";
        std::fs::write(&mp, text).map_err(|e| ReaderTrainError::File {
            path: mp.clone(),
            message: e.to_string(),
        })?;
        let state = if outcome.finished {
            "finished"
        } else {
            "unfinished: continue with --resume"
        };
        obs.note(&format!(
            "wrote {} and {} (step {} of {}, {state})",
            weights.display(),
            mp.display(),
            outcome.step,
            plan.batches.len()
        ));
    }
    Ok(ReaderJobReport {
        finished: outcome.finished,
        step: outcome.step,
        total_steps: plan.batches.len(),
    })
}

fn describe_plan(plan: &Plan, obs: &dyn RunObserver) {
    let mix: Vec<String> = plan
        .mix
        .iter()
        .map(|s| {
            format!(
                "{} {:.1}% ({} drawn of {})",
                s.lang,
                100.0 * s.probability,
                s.drawn,
                s.questions
            )
        })
        .collect();
    obs.note(&format!("language mix: {}", mix.join(", ")));
    obs.note(&format!(
        "{} steps of {} windows: {:?}; {} drawn questions skipped (answer fits no window)",
        plan.batches.len(),
        plan.batches.first().map_or(0, Vec::len),
        plan.kinds,
        plan.skipped
    ));
}

/// Held-out windows: the answer window and one negative per question
/// (another paragraph of the article), up to `dev_windows`.
fn dev_windows(
    enc: &Encoder,
    examples: &[crate::reader::ReaderExample],
    dv: &[usize],
    job: &ReaderJob,
) -> Result<Vec<TrainWindow>, ReaderTrainError> {
    if dv.is_empty() {
        return Ok(Vec::new());
    }
    let cfg = PlanConfig {
        steps: job.dev_windows.div_ceil(2).max(1),
        batch: 2,
        negative_rate: 1.0,
        ..job.step.plan
    };
    let plan = build_plan(enc, examples, dv, &cfg, &|_, _| {})?;
    let mut ws = plan.windows;
    ws.truncate(job.dev_windows);
    // negatives from other windows of the same passage count as negatives too
    ws.retain(|w| w.kind == WindowKind::Answer || w.start == 0);
    Ok(ws)
}

fn recipe(
    job: &ReaderJob,
    summary: &QaDataSummary,
    plan: &Plan,
    log: &[crate::reader_run::DevPoint],
    seconds: f64,
    held_out_questions: usize,
) -> serde_json::Value {
    serde_json::json!({
        "command": job.command,
        "config": job.step,
        "data": summary,
        "sources": job.sources,
        "language_mix": plan.mix,
        "windows": plan.kinds,
        "skipped_questions": plan.skipped,
        "held_out_every_paragraph": job.dev_every,
        "held_out_questions": held_out_questions,
        "log": log,
        "steps_done": log.last().map_or(0, |p| p.step),
        "steps_total": plan.batches.len(),
        "training_seconds": seconds,
        "threads": std::thread::available_parallelism().map_or(1, |n| n.get()),
    })
}
