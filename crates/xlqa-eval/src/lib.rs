//! Evaluation for xlqa: metrics and reports (the dataset and gold readers
//! are in `xlqa-data`).

pub mod bootstrap;
pub mod langid_eval;
pub mod langid_run;
pub mod lareqa;
pub mod openeval;
pub mod plot;
pub mod qa;
pub mod reading;
pub mod retrieval;
