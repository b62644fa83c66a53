//! Accuracy of a precision against the f32 path on real multilingual text.
//!
//! `cargo run --release -p xlqa-models --example e5_accuracy -- [int8|q4] [per_lang]`
//!
//! Texts: from XQuAD (`$XLQA_DATA`, default `../shared/data`), in the 11
//! languages of XQuAD-R (ar de el en es hi ru th tr vi zh), per language
//! `per_lang` texts (default 91, so 1,001 in all), alternating questions (as
//! queries) and paragraphs (as passages, up to 512 tokens). Prints the cosine
//! between the two paths' embeddings per language (min and mean) and overall.
use std::path::PathBuf;

use xlqa_models::{Encoder, EncoderOptions, ModelHome, Precision, TextKind};

const LANGS: [&str; 11] = [
    "ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let precision: Precision = args.get(1).map_or("int8", String::as_str).parse()?;
    let per_lang: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(91);
    let data = std::env::var_os("XLQA_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let home = ModelHome::from_env()?;
    let load = |precision| {
        Encoder::load(
            &home,
            EncoderOptions {
                precision,
                ..EncoderOptions::default()
            },
        )
    };
    let (base, test) = (load(Precision::F32)?, load(precision)?);
    println!("precision {precision} vs f32, {per_lang} texts per language");
    println!("| lang | texts | min cosine | mean cosine |\n|---|---|---|---|");
    let (mut all_min, mut all_sum, mut all_n) = (f64::INFINITY, 0.0, 0usize);
    for lang in LANGS {
        let path = data.join(format!("xquad/xquad.{lang}.json"));
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
        let (mut qs, mut ps) = (Vec::new(), Vec::new());
        for art in v["data"].as_array().ok_or("no data")? {
            for p in art["paragraphs"].as_array().ok_or("no paragraphs")? {
                ps.push(p["context"].as_str().unwrap_or_default().to_string());
                for q in p["qas"].as_array().ok_or("no qas")?.iter().take(1) {
                    qs.push(q["question"].as_str().unwrap_or_default().to_string());
                }
            }
        }
        let nq = per_lang.div_ceil(2);
        let q: Vec<&str> = qs.iter().step_by(3).take(nq).map(String::as_str).collect();
        let p: Vec<&str> = ps
            .iter()
            .step_by(5)
            .take(per_lang - nq)
            .map(String::as_str)
            .collect();
        let mut cos = Vec::new();
        for (texts, kind) in [(&q, TextKind::Query), (&p, TextKind::Passage)] {
            let a = base.encode(texts, kind)?;
            let b = test.encode(texts, kind)?;
            cos.extend(a.iter().zip(&b).map(|(x, y)| {
                x.iter()
                    .zip(y)
                    .map(|(u, v)| f64::from(*u) * f64::from(*v))
                    .sum::<f64>()
            }));
        }
        let min = cos.iter().cloned().fold(f64::INFINITY, f64::min);
        let sum: f64 = cos.iter().sum();
        println!(
            "| {lang} | {} | {min:.5} | {:.5} |",
            cos.len(),
            sum / cos.len() as f64
        );
        all_min = all_min.min(min);
        all_sum += sum;
        all_n += cos.len();
    }
    println!(
        "| all | {all_n} | {all_min:.5} | {:.5} |",
        all_sum / all_n.max(1) as f64
    );
    Ok(())
}
