//! Evaluation for xlqa: dataset readers, metrics and reports.

pub mod datasets;
pub mod langid_eval;
pub mod langid_run;
pub mod retrieval;
