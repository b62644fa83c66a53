//! Test helper: real paragraphs from the shared data folder.
//!
//! The folder is `$XLQA_DATA`, or `../shared/data` next to the workspace.
//! When it is absent the callers print a message and skip.

use std::path::PathBuf;

/// The shared data folder when it holds `rel` (else skip, or fail under
/// `XLQA_REQUIRE_DATA=1`).
pub(crate) fn data_dir(rel: &str) -> Option<PathBuf> {
    xlqa_core::testdata::shared_or_skip("xlqa-text", rel)
}

/// The paragraph contexts of XQuAD in language `lang` (`en`, `zh`, `th` …),
/// or `None` (with a printed SKIP message) when the data is absent.
pub(crate) fn xquad_contexts(lang: &str) -> Option<Vec<String>> {
    squad_contexts(&format!("xquad/xquad.{lang}.json"))
}

/// The passages of the TyDi QA GoldP dev set for `language` (`korean`,
/// `bengali`, `telugu`, …), or `None` (with a printed SKIP message).
pub(crate) fn tydi_contexts(language: &str) -> Option<Vec<String>> {
    squad_contexts(&format!("tydiqa_goldp_v1.1/dev/{language}_tydiqa_dev.json"))
}

/// The `context` strings of a SQuAD-format JSON file under the data folder.
fn squad_contexts(rel: &str) -> Option<Vec<String>> {
    let path = data_dir(rel)?.join(rel);
    let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: serde_json::Value = serde_json::from_str(&raw).expect("SQuAD json parses");
    let mut out = Vec::new();
    for article in v["data"].as_array().expect("data array") {
        for p in article["paragraphs"].as_array().expect("paragraphs array") {
            out.push(p["context"].as_str().expect("context string").to_string());
        }
    }
    Some(out)
}
