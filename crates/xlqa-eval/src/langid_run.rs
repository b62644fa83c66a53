//! Language identification measured on the shared data: XQuAD questions and
//! paragraphs (12 languages), TyDi GoldP dev questions and passages (9).

use crate::langid_eval::{evaluate_langid, LangIdReport};
use crate::retrieval::EvalError;
use std::collections::HashSet;
use std::path::Path;
use xlqa_core::Lang;
use xlqa_data::squad::{read_tydi_goldp_dev_dir, read_xquad_dir, QaExample};
use xlqa_text::langid::LangId;

fn questions(ex: &[QaExample]) -> Vec<(Lang, String)> {
    ex.iter()
        .map(|e| (e.lang.clone(), e.question.clone()))
        .collect()
}

fn contexts(ex: &[QaExample]) -> Vec<(Lang, String)> {
    let mut seen = HashSet::new();
    ex.iter()
        .filter(|e| seen.insert((e.lang.clone(), e.context.clone())))
        .map(|e| (e.lang.clone(), e.context.clone()))
        .collect()
}

/// Runs the four measurements; each report is named by its data set.
pub fn evaluate_shared_data(
    langid: &LangId,
    data: &Path,
) -> Result<Vec<(String, LangIdReport)>, EvalError> {
    let xquad = read_xquad_dir(&data.join("xquad"))?;
    let tydi = read_tydi_goldp_dev_dir(&data.join("tydiqa_goldp_v1.1").join("dev"))?;
    Ok(vec![
        (
            "XQuAD questions".to_string(),
            evaluate_langid(langid, &questions(&xquad)),
        ),
        (
            "XQuAD paragraphs".to_string(),
            evaluate_langid(langid, &contexts(&xquad)),
        ),
        (
            "TyDi GoldP dev questions".to_string(),
            evaluate_langid(langid, &questions(&tydi)),
        ),
        (
            "TyDi GoldP dev passages".to_string(),
            evaluate_langid(langid, &contexts(&tydi)),
        ),
    ])
}
