//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use xlqa_models::{Encoder, EncoderOptions, ModelHome, Precision};

/// `$XLQA_DATA`, else the workspace's `../shared/data`; `None` (with a printed
/// SKIP message) when absent.
pub fn data_dir(test: &str) -> Option<PathBuf> {
    xlqa_core::testdata::shared_or_skip(test, "xquad")
}

pub fn home() -> ModelHome {
    ModelHome::from_env().expect("model home")
}

/// The default encoder, loaded once per test binary.
pub fn encoder() -> &'static Encoder {
    static ENC: OnceLock<Encoder> = OnceLock::new();
    ENC.get_or_init(|| Encoder::load(&home(), EncoderOptions::default()).expect("load encoder"))
}

/// The encoder with f32 weights (the reference path, and the one training
/// needs), loaded once per test binary.
pub fn encoder_f32() -> &'static Encoder {
    static ENC: OnceLock<Encoder> = OnceLock::new();
    ENC.get_or_init(|| {
        let opts = EncoderOptions {
            precision: Precision::F32,
            ..EncoderOptions::default()
        };
        Encoder::load(&home(), opts).expect("load f32 encoder")
    })
}

/// The encoder with Q4 weights, loaded once per test binary.
pub fn encoder_q4() -> &'static Encoder {
    static ENC: OnceLock<Encoder> = OnceLock::new();
    ENC.get_or_init(|| {
        let opts = EncoderOptions {
            precision: Precision::Q4,
            ..EncoderOptions::default()
        };
        Encoder::load(&home(), opts).expect("load q4 encoder")
    })
}

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let d: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    d / (na * nb)
}

/// A SQuAD-format file as (title, context, questions) per paragraph.
pub fn read_squad(path: &std::path::Path) -> Vec<(String, String, Vec<String>)> {
    let raw = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: serde_json::Value = serde_json::from_str(&raw).expect("squad json");
    let mut out = Vec::new();
    for art in v["data"].as_array().expect("data") {
        let title = art["title"].as_str().unwrap_or("").to_string();
        for p in art["paragraphs"].as_array().expect("paragraphs") {
            let ctx = p["context"].as_str().unwrap_or("").to_string();
            let qs = p["qas"]
                .as_array()
                .map(|qs| {
                    qs.iter()
                        .filter_map(|q| q["question"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            out.push((title.clone(), ctx, qs));
        }
    }
    out
}
