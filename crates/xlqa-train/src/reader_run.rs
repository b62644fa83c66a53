//! Running the span-reader steps with checkpoints that resume exactly.
//!
//! A checkpoint (`<out>/checkpoint/`) holds the trained weights
//! (`model.safetensors`), the optimizer moments (`optim.safetensors`) and
//! `state.json` (step, config, the plan's fingerprint, the held-out log,
//! seconds spent). It is written to `checkpoint.partial/` and swapped in by
//! renames, so an interrupted write leaves the previous one usable. Since
//! the stream is rebuilt from data, config and seed, and the learning rate
//! is a function of the step, a resumed run takes the same steps on the
//! same windows as an uninterrupted one and ends with the same bytes.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use xlqa_models::span::SpanModel;
use xlqa_models::Encoder;

use crate::adamw::{AdamW, AdamWParams};
use crate::reader::{batch_loss, best_positions, lower_states, ReaderTrainError, TrainWindow};
use crate::reader_plan::{Plan, PlanConfig};

/// Format tag of `state.json`.
pub const CHECKPOINT_FORMAT: &str = "xlqa-reader-checkpoint/1";

/// Hyper-parameters of the steps.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct StepConfig {
    /// Layers `0..lower` stay frozen.
    pub lower: usize,
    pub lr: f64,
    /// Share of the steps with linear warm-up (then linear decay to 0).
    pub warmup: f64,
    pub weight_decay: f64,
    /// Learning-rate factor per layer below the top (1: none).
    pub layer_decay: f64,
    pub plan: PlanConfig,
}

/// When to stop or save, none of which changes the result.
#[derive(Debug, Clone, Copy)]
pub struct RunControl {
    /// Minutes between checkpoints.
    pub checkpoint_every: Duration,
    /// Stop (after a checkpoint) once this many steps are done.
    pub stop_after_steps: Option<usize>,
    /// Stop (after a checkpoint) when this much time has passed.
    pub time_budget: Option<Duration>,
    /// Held-out evaluation every N steps (0: only at checkpoints and the end).
    pub eval_every: usize,
}

/// One held-out measurement.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DevPoint {
    pub step: usize,
    pub train_loss: Option<f64>,
    pub dev_loss: f64,
    /// Share of held-out answer windows whose best span is exactly the gold one.
    pub dev_exact_span: f64,
    /// Share of held-out negative windows whose no-answer score beats every span.
    pub dev_null_right: f64,
    pub seconds: f64,
}

/// What `state.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointState {
    pub format: String,
    pub step: usize,
    pub config: StepConfig,
    pub fingerprint: String,
    pub log: Vec<DevPoint>,
    /// Training seconds over every session so far.
    pub seconds: f64,
}

/// How a run ended.
pub struct RunOutcome {
    pub finished: bool,
    pub step: usize,
    pub log: Vec<DevPoint>,
    pub seconds: f64,
}

/// Reports from the loop (the CLI draws a progress bar from them).
pub trait RunObserver {
    /// After each step, with that step's loss.
    fn step(&self, step: usize, total: usize, loss: f64);
    /// A line worth showing (held-out numbers, checkpoints).
    fn note(&self, line: &str);
}

/// Per-variable learning-rate factors: `layer_decay^(layers above)`, head 1.
fn lr_scales(model: &SpanModel, layer_decay: f64) -> Vec<f64> {
    let n = model.top.len();
    let mut s = Vec::new();
    for (k, l) in model.top.iter().enumerate() {
        let f = layer_decay.powi((n - k) as i32);
        s.extend(std::iter::repeat_n(f, l.vars().len()));
    }
    s.extend([1.0, 1.0]);
    s
}

/// Held-out windows with their lower-layer states computed once.
pub struct DevSet {
    batches: Vec<(candle_core::Tensor, Vec<usize>, Vec<TrainWindow>)>,
}

impl DevSet {
    pub fn new(
        enc: &Encoder,
        windows: Vec<TrainWindow>,
        lower: usize,
    ) -> Result<DevSet, ReaderTrainError> {
        let mut batches = Vec::new();
        let mut ws = windows;
        ws.sort_by_key(|w| w.ids.len());
        for chunk in ws.chunks(32) {
            let refs: Vec<&TrainWindow> = chunk.iter().collect();
            let (x, lens) = lower_states(enc, &refs, lower)?;
            batches.push((x, lens, chunk.to_vec()));
        }
        Ok(DevSet { batches })
    }

    pub fn len(&self) -> usize {
        self.batches.iter().map(|b| b.2.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// (loss, exact-span rate on answer windows, null-right rate on negatives).
    pub fn evaluate(
        &self,
        model: &SpanModel,
        max_answer: usize,
    ) -> Result<(f64, f64, f64), ReaderTrainError> {
        let (mut loss, mut n) = (0.0, 0usize);
        let (mut hit, mut pos, mut null_ok, mut neg) = (0usize, 0usize, 0usize, 0usize);
        for (x, lens, ws) in &self.batches {
            let refs: Vec<&TrainWindow> = ws.iter().collect();
            let (l, s, e) = batch_loss(model, x, lens, &refs)?;
            loss += f64::from(l.to_scalar::<f32>()?) * ws.len() as f64;
            n += ws.len();
            let (s, e): (Vec<Vec<f32>>, Vec<Vec<f32>>) = (s.to_vec2()?, e.to_vec2()?);
            for ((w, s), e) in ws.iter().zip(s).zip(e) {
                let (bs, be) = best_positions(w, &s, &e, max_answer);
                if w.has_answer() {
                    pos += 1;
                    hit += usize::from((bs, be) == (w.start, w.end));
                } else {
                    neg += 1;
                    let span = s[bs as usize] + e[be as usize];
                    null_ok += usize::from(s[0] + e[0] > span);
                }
            }
        }
        let r = |a: usize, b: usize| a as f64 / b.max(1) as f64;
        Ok((loss / n.max(1) as f64, r(hit, pos), r(null_ok, neg)))
    }
}

/// The trainer's state: model, optimizer, where it is.
pub struct Run<'a> {
    pub enc: &'a Encoder,
    pub model: &'a SpanModel,
    pub plan: &'a Plan,
    pub dev: &'a DevSet,
    pub cfg: StepConfig,
    pub dir: PathBuf,
}

impl Run<'_> {
    fn new_optimizer(&self) -> Result<AdamW, ReaderTrainError> {
        let p = AdamWParams {
            weight_decay: self.cfg.weight_decay,
            ..AdamWParams::default()
        };
        Ok(AdamW::new(
            self.model.vars(),
            lr_scales(self.model, self.cfg.layer_decay),
            p,
        )?)
    }

    /// Runs from step 0, or from the checkpoint in `dir` with `resume`.
    pub fn run(
        &self,
        resume: bool,
        ctl: RunControl,
        obs: &dyn RunObserver,
    ) -> Result<RunOutcome, ReaderTrainError> {
        let mut opt = self.new_optimizer()?;
        let mut st = if resume {
            self.load_checkpoint(&mut opt)?
        } else {
            CheckpointState {
                format: CHECKPOINT_FORMAT.into(),
                step: 0,
                config: self.cfg,
                fingerprint: self.plan.fingerprint.clone(),
                log: Vec::new(),
                seconds: 0.0,
            }
        };
        if resume {
            obs.note(&format!(
                "resumed at step {} of {}",
                st.step,
                self.plan.batches.len()
            ));
        }
        self.steps(&mut st, &mut opt, ctl, obs)?;
        Ok(RunOutcome {
            finished: st.step >= self.plan.batches.len(),
            step: st.step,
            log: st.log,
            seconds: st.seconds,
        })
    }

    fn steps(
        &self,
        st: &mut CheckpointState,
        opt: &mut AdamW,
        ctl: RunControl,
        obs: &dyn RunObserver,
    ) -> Result<(), ReaderTrainError> {
        let total = self.plan.batches.len();
        let warm = ((total as f64 * self.cfg.warmup).ceil() as usize).max(1);
        let (t0, base) = (Instant::now(), st.seconds);
        let mut last_save = Instant::now();
        let (mut sum, mut n) = (0.0, 0usize);
        // a resumed run already at its stop takes no step (export only)
        let stop_at = ctl.stop_after_steps.unwrap_or(usize::MAX);
        while st.step < total && st.step < stop_at {
            let lr = crate::warmup_linear_lr(self.cfg.lr, st.step, warm, total);
            let loss = self.one_step(st.step, opt, lr)?;
            st.step += 1;
            (sum, n) = (sum + loss, n + 1);
            obs.step(st.step, total, loss);
            st.seconds = base + t0.elapsed().as_secs_f64();
            let stop = ctl.stop_after_steps.is_some_and(|s| st.step >= s)
                || ctl.time_budget.is_some_and(|b| t0.elapsed() >= b);
            let save = stop || last_save.elapsed() >= ctl.checkpoint_every || st.step == total;
            if save || (ctl.eval_every > 0 && st.step.is_multiple_of(ctl.eval_every)) {
                self.record(st, (sum, n), obs)?;
                (sum, n) = (0.0, 0);
            }
            if save {
                self.save_checkpoint(st, opt)?;
                obs.note(&format!(
                    "checkpoint at step {} → {}",
                    st.step,
                    self.dir.join("checkpoint").display()
                ));
                last_save = Instant::now();
            }
            if stop {
                break;
            }
        }
        Ok(())
    }

    fn one_step(&self, step: usize, opt: &mut AdamW, lr: f64) -> Result<f64, ReaderTrainError> {
        let ws: Vec<&TrainWindow> = self.plan.batches[step]
            .iter()
            .map(|&i| &self.plan.windows[i])
            .collect();
        let (x, lens) = lower_states(self.enc, &ws, self.cfg.lower)?;
        let (loss, _, _) = batch_loss(self.model, &x, &lens, &ws)?;
        let l = f64::from(loss.to_scalar::<f32>()?);
        if !l.is_finite() {
            return Err(ReaderTrainError::Config(format!(
                "loss became {l} at step {step}; lower the learning rate"
            )));
        }
        opt.backward_step(&loss, lr)?;
        Ok(l)
    }

    fn record(
        &self,
        st: &mut CheckpointState,
        (sum, n): (f64, usize),
        obs: &dyn RunObserver,
    ) -> Result<(), ReaderTrainError> {
        let (dev_loss, exact, null) = self
            .dev
            .evaluate(self.model, self.cfg.plan.span.max_answer)?;
        let p = DevPoint {
            step: st.step,
            train_loss: (n > 0).then(|| sum / n as f64),
            dev_loss,
            dev_exact_span: exact,
            dev_null_right: null,
            seconds: st.seconds,
        };
        obs.note(&format!(
            "step {}: train loss {:.4}, held-out loss {:.4}, exact span {:.3}, no-answer right {:.3}",
            p.step,
            p.train_loss.unwrap_or(f64::NAN),
            p.dev_loss,
            p.dev_exact_span,
            p.dev_null_right
        ));
        st.log.push(p);
        Ok(())
    }

    fn save_checkpoint(&self, st: &CheckpointState, opt: &AdamW) -> Result<(), ReaderTrainError> {
        let fin = self.dir.join("checkpoint");
        let tmp = self.dir.join("checkpoint.partial");
        let old = self.dir.join("checkpoint.old");
        let io = |p: &Path, e: std::io::Error| ReaderTrainError::File {
            path: p.to_path_buf(),
            message: e.to_string(),
        };
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
        self.model.save(&tmp.join("model.safetensors"))?;
        opt.save(&tmp.join("optim.safetensors"))?;
        let json = serde_json::to_string_pretty(st)
            .map_err(|e| ReaderTrainError::Config(e.to_string()))?;
        std::fs::write(tmp.join("state.json"), json).map_err(|e| io(&tmp, e))?;
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(|e| io(&old, e))?;
        }
        if fin.exists() {
            std::fs::rename(&fin, &old).map_err(|e| io(&fin, e))?;
        }
        std::fs::rename(&tmp, &fin).map_err(|e| io(&fin, e))?;
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(|e| io(&old, e))?;
        }
        Ok(())
    }

    /// The checkpoint to resume from (`checkpoint/`, or `checkpoint.old/`
    /// when a swap was interrupted), checked against this run.
    fn load_checkpoint(&self, opt: &mut AdamW) -> Result<CheckpointState, ReaderTrainError> {
        let dir = ["checkpoint", "checkpoint.old"]
            .iter()
            .map(|d| self.dir.join(d))
            .find(|d| d.join("state.json").is_file())
            .ok_or_else(|| ReaderTrainError::File {
                path: self.dir.join("checkpoint"),
                message: "no checkpoint to resume from (start without --resume)".into(),
            })?;
        let sp = dir.join("state.json");
        let bad = |m: String| ReaderTrainError::File {
            path: sp.clone(),
            message: m,
        };
        let text = std::fs::read_to_string(&sp).map_err(|e| bad(e.to_string()))?;
        let st: CheckpointState = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if st.format != CHECKPOINT_FORMAT {
            return Err(bad(format!(
                "format '{}', expected '{CHECKPOINT_FORMAT}'",
                st.format
            )));
        }
        if st.config != self.cfg {
            return Err(bad(format!(
                "written with other settings; resume with the same options.\n  checkpoint: {:?}\n  now:        {:?}",
                st.config, self.cfg
            )));
        }
        if st.fingerprint != self.plan.fingerprint {
            return Err(bad(
                "the training stream differs (other data?); resume with the same --data".into(),
            ));
        }
        let saved = SpanModel::load(
            &dir.join("model.safetensors"),
            self.model.top.len(),
            self.enc,
        )?;
        for (v, s) in self.model.vars().iter().zip(saved.vars()) {
            v.set(s.as_tensor())?;
        }
        opt.load(&dir.join("optim.safetensors"))?;
        if opt.steps() != st.step {
            return Err(bad(format!(
                "optimizer at step {}, state at {}",
                opt.steps(),
                st.step
            )));
        }
        Ok(st)
    }
}
