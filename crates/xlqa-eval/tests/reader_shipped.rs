//! The shipped span reader (models/span-reader) on a small XQuAD slice: F1
//! above the floor measured when it was shipped, in every language, and the
//! answer projection into the parallel paragraph of another language.
//! Skipped, with a message, when ../shared/data is absent.

use std::path::PathBuf;
use std::sync::OnceLock;

use xlqa_data::squad::read_xquad_dir;
use xlqa_eval::reading::{by_label, cross_items, monolingual_items, score};
use xlqa_models::span::SpanReader;
use xlqa_models::{Encoder, EncoderOptions, ModelHome};

fn data_dir() -> Option<PathBuf> {
    xlqa_core::testdata::shared_or_skip("reader_shipped", "xquad")
}

fn shipped() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/span-reader")
}

fn reader() -> &'static SpanReader {
    static R: OnceLock<SpanReader> = OnceLock::new();
    R.get_or_init(|| {
        let home = ModelHome::from_env().expect("model home");
        let enc = Encoder::load(&home, EncoderOptions::default()).expect("encoder");
        SpanReader::load(&shipped(), enc, false).expect("the shipped reader loads")
    })
}

fn predict(items: &[xlqa_eval::reading::ReadingItem]) -> Vec<String> {
    let pairs: Vec<(&str, &str)> = items
        .iter()
        .map(|i| (i.question.as_str(), i.context.as_str()))
        .collect();
    reader()
        .read_pairs(&pairs)
        .unwrap()
        .into_iter()
        .map(|a| a.map(|a| a.text).unwrap_or_default())
        .collect()
}

/// Floors: the F1 measured on these slices when the reader was shipped
/// (2026-12-03, the 6-trained-layer reader: macro 47.0, lowest language
/// 31.2 (el), cross-lingual 36.0 on its 88 questions) minus a margin of
/// about 2 points (3 on the small cross-lingual slice): the int8 kernels are
/// bit-identical across CPUs, the f32 parts are not quite. The 4-layer
/// reader shipped before it measured 38.1 / 19.4 / 16.6 and fails these
/// floors (the 2,652-question matrix in docs/RESULTS.md is the real
/// cross-lingual comparison); a reader that ignores the question lands far
/// below.
const MACRO_F1_FLOOR: f64 = 45.0;
const LANG_F1_FLOOR: f64 = 29.0;
const CROSS_F1_FLOOR: f64 = 33.0;

#[test]
fn shipped_reader_reads_xquad_in_every_language() {
    let Some(data) = data_dir() else { return };
    let examples = read_xquad_dir(&data.join("xquad")).unwrap();
    let items = monolingual_items(&examples, Some(24));
    assert_eq!(items.len(), 288);
    let preds = predict(&items);
    let s = score(&items, &preds);
    let (rows, avg) = by_label(&items, &s);
    for r in &rows {
        println!("{} F1 {:.1} EM {:.1}", r.label, r.f1, r.em);
    }
    println!("macro F1 {:.1}", avg.f1);
    assert!(avg.f1 >= MACRO_F1_FLOOR, "macro F1 {:.1}", avg.f1);
    for r in &rows {
        assert!(r.f1 >= LANG_F1_FLOOR, "{}: F1 {:.1}", r.label, r.f1);
    }
}

#[test]
fn shipped_reader_reads_across_languages() {
    let Some(data) = data_dir() else { return };
    let examples = read_xquad_dir(&data.join("xquad")).unwrap();
    // questions in each language over the English paragraph, and English
    // questions over each language's paragraph (first 4 per pair)
    let items: Vec<_> = cross_items(&examples, Some(4))
        .into_iter()
        .filter(|i| i.q_lang.as_str() == "en" || i.c_lang.as_str() == "en")
        .collect();
    assert_eq!(items.len(), 22 * 4);
    let preds = predict(&items);
    let s = score(&items, &preds);
    let (_, avg) = by_label(&items, &s);
    println!("cross-lingual macro F1 {:.1}", avg.f1);
    assert!(
        avg.f1 >= CROSS_F1_FLOOR,
        "cross-lingual macro F1 {:.1}",
        avg.f1
    );
}

#[test]
fn shipped_reader_files_are_versioned() {
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(shipped().join("reader.json")).unwrap())
            .unwrap();
    assert_eq!(meta["format"], "xlqa-span-reader/1");
    let size = std::fs::metadata(shipped().join("reader.safetensors"))
        .unwrap()
        .len();
    assert!(size <= 50 << 20, "{size} bytes: over the 50 MB limit");
    assert!(meta["recipe"]["command"]
        .as_str()
        .unwrap()
        .contains("train reader"));
    assert!(meta["weights_sha256"].as_str().unwrap().len() == 64);
}
