//! Text processing for xlqa: language identification, per-language analysis
//! (normalization, word segmentation, stemming), sentence splitting and
//! DPR-style passage chunking. Knows nothing of indexes or models.

pub mod analyze;
pub mod chunk;
pub mod langid;
pub mod sentence;
