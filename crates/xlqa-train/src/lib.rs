//! Training for xlqa: cross-lingual alignment of sentence embeddings.
//!
//! * The training pairs (Tatoeba, XOR-TyDi question translations, TyDi
//!   GoldP train question ↔ answer sentence) are read by
//!   `xlqa_data::pairs`; SQuAD-format files by `xlqa_data::squad`.
//! * [`trainer`]: contrastive training (in-batch softmax, MixCSE; X-Y or
//!   monolingual batches) of a linear adapter with candle, on cached
//!   encoder embeddings.
//! * [`finetune`]: contrastive fine-tuning of the encoder's top layers
//!   (in-batch / DPR / MixCSE, translation ranking, word alignment with a
//!   regularizer; X-Y or monolingual batches) on cached lower-layer states.
//! * [`reader`], [`qa_data`], [`reader_plan`], [`reader_run`],
//!   [`reader_job`]: the extractive span reader (top encoder layers +
//!   start/end head) trained on SQuAD-format data with language-balanced
//!   sampling, no-answer windows, and checkpoints that resume exactly;
//!   [`adamw`] is the optimizer whose state those checkpoints hold;
//!   [`calibrate`] fits how spans read from different passages compare.
//! * [`adapter`]: the trained adapter on disk (safetensors + recipe JSON
//!   with checksum) and its application to embeddings.

pub mod adamw;
pub mod adapter;
pub mod calibrate;
pub mod encoder_job;
pub mod finetune;
pub mod qa_data;
pub mod reader;
pub mod reader_job;
pub mod reader_plan;
pub mod reader_run;
pub mod trainer;

pub use adapter::{Adapter, AdapterError, AdapterMeta};
pub use trainer::{Batching, EpochLog, Loss, TrainConfig, TrainError, VecPair};

/// Learning rate at `step` of `total`: linear warm-up over the first `warm`
/// steps to `peak`, then linear decay to 0 (both trainers use it).
pub fn warmup_linear_lr(peak: f64, step: usize, warm: usize, total: usize) -> f64 {
    if step < warm {
        peak * (step + 1) as f64 / warm.max(1) as f64
    } else {
        peak * total.saturating_sub(step) as f64 / (total.saturating_sub(warm)).max(1) as f64
    }
}
