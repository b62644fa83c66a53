//! Evaluation for xlqa: dataset readers, metrics and reports.

pub mod bootstrap;
pub mod datasets;
pub mod langid_eval;
pub mod langid_run;
pub mod lareqa;
pub mod openeval;
pub mod plot;
pub mod qa;
pub mod reading;
pub mod retrieval;
