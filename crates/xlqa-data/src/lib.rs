//! Dataset and gold-answer readers for xlqa, below `xlqa-eval` and
//! `xlqa-train` (it depends on `xlqa-core` and `xlqa-text` only, so training
//! reads its data without pulling in search or evaluation).
//!
//! What it reads, and where each dataset lives under the shared data folder
//! (`../shared/data`, or `$XLQA_DATA`; see [`squad::shared_data_dir`] and
//! `shared/DATA.md`):
//!
//! | module | dataset | folder under `../shared/data` |
//! | --- | --- | --- |
//! | [`squad`] | XQuAD (SQuAD v1.1 JSON, one file per language) | `xquad/` |
//! | [`squad`] | TyDi QA GoldP v1.1 dev (and any SQuAD-format file) | `tydiqa_goldp_v1.1/dev/` |
//! | [`lareqa`] | XQuAD-R / MLQA-R (SQuAD JSON with sentences) | `lareqa_xquad_r/` |
//! | [`gold`] | MKQA JSONL (`.jsonl.gz`) | `mkqa_format_sample/` |
//! | [`gold`] | XOR-TyDi / MIA JSONL | `xor_tydi_v1.1_retrieve_engspan/` |
//! | [`gold`] | XQuAD / TyDi GoldP / SQuAD as gold answer sets | as above |
//! | [`pairs`] | Tatoeba (LASER test set), line-aligned | `tatoeba_laser_v1/` |
//! | [`pairs`] | XOR-TyDi question translations | `xor_tydi_question_translations/` |
//! | [`pairs`] | TyDi QA GoldP train | `tydiqa_goldp_v1.1/train_partial/` |
//!
//! [`normalize`] holds the answer normalization and token F1 / EM shared by
//! the QA evaluation and the span reader's calibration.
//!
//! # Errors
//!
//! Every reader returns [`Result`], i.e. `Result<T, DataError>`: one error
//! type for the crate. Each error names the file (or folder) and the place
//! in it: the JSON path for JSON files (`'f.json' at
//! data[3].paragraphs[1].qas[0].answers[0].answer_start: …`), the line and
//! field for JSONL records (`'gold.jsonl' line 2, field "answers": …` or
//! `gold.jsonl:2: …`, see [`gold`]), the line for text files. The crates
//! above wrap it in their own error with `#[error(transparent)]`, so the
//! message reaches the user unchanged. The small helpers every reader uses
//! (reading JSON and lines, listing folders, JSON field getters, character
//! offsets) are in [`io`].

pub mod error;
pub mod gold;
pub mod io;
pub mod lareqa;
pub mod normalize;
pub mod pairs;
pub mod squad;

pub use error::{DataError, Result};
