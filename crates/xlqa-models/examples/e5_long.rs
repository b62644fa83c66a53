use std::time::Instant;
use xlqa_models::{Encoder, EncoderOptions, ModelHome, TextKind};
fn main() {
    let raw = std::fs::read_to_string("/work/shared/data/xquad/xquad.en.json").unwrap();
    let v: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let mut ctx = Vec::new();
    for a in v["data"].as_array().unwrap() { for p in a["paragraphs"].as_array().unwrap() { ctx.push(p["context"].as_str().unwrap().to_string()); } }
    let enc = Encoder::load(&ModelHome::from_env().unwrap(), EncoderOptions::default()).unwrap();
    let n: usize = std::env::args().nth(1).map(|s| s.parse().unwrap()).unwrap_or(32);
    let texts: Vec<&str> = ctx.iter().take(n).map(|s| s.as_str()).collect();
    let toks: usize = texts.iter().map(|t| enc.count_tokens(t)).sum();
    let t = Instant::now();
    enc.encode_with_progress(&texts, TextKind::Passage, &|d| eprintln!("{d} done at {:.1}s", t.elapsed().as_secs_f64())).unwrap();
    println!("{n} texts, {toks} tokens: {:.1}s", t.elapsed().as_secs_f64());
}
