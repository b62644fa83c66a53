//! Throughput and latency of the e5 encoder.
//!
//! `cargo run --release -p xlqa-models --example e5_bench -- [q4|f32] [rounds]`
//!
//! Throughput: batches of 32 XQuAD (en) paragraphs truncated to 128 tokens.
//! Latency: one ~16-token query at a time. Threads: `RAYON_NUM_THREADS`
//! (default: all cores). Data: `$XLQA_DATA` (default `../shared/data`).
use std::path::PathBuf;
use std::time::Instant;

use xlqa_models::{Encoder, EncoderOptions, ModelHome, Precision, TextKind};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let precision = match args.get(1).map(String::as_str) {
        Some("f32") => Precision::F32,
        Some("q4") | None => Precision::Q4,
        Some(other) => return Err(format!("unknown precision {other}: use q4 or f32").into()),
    };
    let rounds: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(3);
    let data = std::env::var_os("XLQA_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let raw = std::fs::read_to_string(data.join("xquad/xquad.en.json"))?;
    let v: serde_json::Value = serde_json::from_str(&raw)?;
    let mut contexts = Vec::new();
    for art in v["data"].as_array().ok_or("xquad: no data")? {
        for p in art["paragraphs"].as_array().ok_or("xquad: no paragraphs")? {
            if let Some(c) = p["context"].as_str() {
                contexts.push(c.to_string());
            }
        }
    }
    let home = ModelHome::from_env()?;
    let t0 = Instant::now();
    let opts = EncoderOptions { precision, batch_size: 32, max_tokens: 128 };
    let enc = Encoder::load(&home, opts)?;
    println!("precision {precision}: load {:.2} s", t0.elapsed().as_secs_f64());
    let mut texts: Vec<&str> = Vec::new();
    for c in &contexts {
        if texts.len() < 32 && enc.count_tokens(c) >= 130 {
            texts.push(c);
        }
    }
    let lens: Vec<usize> = texts.iter().map(|t| enc.input_ids(t, TextKind::Passage).map(|i| i.len())).collect::<Result<_, _>>()?;
    println!("batch: {} texts, {}..{} tokens", texts.len(), lens.iter().min().unwrap_or(&0), lens.iter().max().unwrap_or(&0));
    enc.encode(&texts, TextKind::Passage)?; // warm-up
    let mut best = f64::MAX;
    for _ in 0..rounds {
        let t = Instant::now();
        enc.encode(&texts, TextKind::Passage)?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("throughput: {:.2} seq/s (best of {rounds}: {:.3} s per batch of 32)", 32.0 / best, best);
    let q = "What is the name of the stadium where Super Bowl 50 was played?";
    println!("query tokens: {}", enc.input_ids(q, TextKind::Query)?.len());
    enc.encode(&[q], TextKind::Query)?;
    let mut times = Vec::new();
    for _ in 0..(rounds * 10) {
        let t = Instant::now();
        enc.encode(&[q], TextKind::Query)?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    println!("query latency: median {:.1} ms, min {:.1} ms", times[times.len() / 2], times[0]);
    Ok(())
}
