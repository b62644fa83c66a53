//! Throughput and latency of the e5 encoder.
//!
//! `RAYON_NUM_THREADS=2 cargo run --release -p xlqa-models --example e5_bench -- [f32|int8|q4] [rounds]`
//!
//! Throughput: batches of 32 XQuAD (en) paragraphs truncated to 128 tokens.
//! Latency: one query (19 tokens with `<s>`, prefix and `</s>`) at a time.
//! Threads: `RAYON_NUM_THREADS` (default: all cores). Data: `$XLQA_DATA`
//! (default `../shared/data`). `E5_BENCH_LATENCY_ONLY=1` skips throughput;
//! `E5_BENCH_DUMP=FILE` writes the inputs for the peer benchmarks.
//! The load average is printed: on a shared machine, other processes skew
//! wall-clock numbers.
use std::path::PathBuf;
use std::time::Instant;

use xlqa_models::{Encoder, EncoderOptions, ModelHome, Precision, TextKind};

/// CPU seconds used by the threads of this process so far (utime + stime,
/// summed over `/proc/self/task/*/stat`; Linux only, 0 elsewhere).
fn cpu_seconds() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    let mut total = 0.0;
    for t in tasks.flatten() {
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        // fields after the ")" closing the command name; utime and stime are 14 and 15
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        let field = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        total += (field(11) + field(12)) / 100.0;
    }
    total
}

/// Writes the benchmark's exact inputs for the peers (`bench/peers_encoder.py`):
/// the batch's token ids (each 128), each text cut at the end of its last
/// kept word-piece (so that an engine that tokenizes by itself sees the same
/// 128 tokens), the query and its ids, and this encoder's embeddings.
fn dump_inputs(
    enc: &Encoder,
    texts: &[&str],
    path: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let prefix = TextKind::Passage.prefix();
    let keep = enc.options().max_tokens - 2;
    let mut ids = Vec::new();
    let mut cut = Vec::new();
    for t in texts {
        ids.push(enc.input_ids(t, TextKind::Passage)?);
        let full = format!("{prefix}{t}");
        let spans = enc.token_spans(&full);
        let end = spans.get(keep - 1).map_or(full.len(), |s| s.1);
        cut.push(full[prefix.len()..end].trim_end().to_string());
    }
    let q = QUERY;
    let v = serde_json::json!({
        "batch_ids": ids,
        "batch_texts": cut,
        "batch_embeddings": enc.encode(texts, TextKind::Passage)?,
        "query": q,
        "query_ids": enc.input_ids(q, TextKind::Query)?,
        "precision": enc.options().precision.to_string(),
    });
    std::fs::write(path, serde_json::to_vec(&v)?)?;
    println!("inputs written to {}", path.display());
    Ok(())
}

const QUERY: &str = "What is the name of the stadium where Super Bowl 50 was played?";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--print-model-path") {
        let home = ModelHome::from_env()?;
        println!("{}", home.ensure(&xlqa_models::E5_SMALL_Q4)?.display());
        return Ok(());
    }
    let precision: Precision = args.get(1).map_or("f32", String::as_str).parse()?;
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
    let opts = EncoderOptions {
        precision,
        batch_size: 32,
        max_tokens: 128,
    };
    let enc = Encoder::load(&home, opts)?;
    println!(
        "precision {precision}: load {:.2} s",
        t0.elapsed().as_secs_f64()
    );
    let mut texts: Vec<&str> = Vec::new();
    for c in &contexts {
        if texts.len() < 32 && enc.count_tokens(c) >= 130 {
            texts.push(c);
        }
    }
    let lens: Vec<usize> = texts
        .iter()
        .map(|t| enc.input_ids(t, TextKind::Passage).map(|i| i.len()))
        .collect::<Result<_, _>>()?;
    println!(
        "batch: {} texts, {}..{} tokens",
        texts.len(),
        lens.iter().min().unwrap_or(&0),
        lens.iter().max().unwrap_or(&0)
    );
    if let Some(dump) = std::env::var_os("E5_BENCH_DUMP") {
        dump_inputs(&enc, &texts, &PathBuf::from(dump))?;
    }
    let latency_only = std::env::var_os("E5_BENCH_LATENCY_ONLY").is_some();
    enc.encode(&texts[..1], TextKind::Passage)?; // warm-up
    if !latency_only {
        let mut runs = Vec::new();
        let cpu0 = cpu_seconds();
        for _ in 0..rounds.max(1) {
            let t = Instant::now();
            enc.encode(&texts, TextKind::Passage)?;
            runs.push(t.elapsed().as_secs_f64());
        }
        let cpu = (cpu_seconds() - cpu0) / runs.len() as f64;
        runs.sort_by(f64::total_cmp);
        let (best, median) = (runs[0], runs[runs.len() / 2]);
        println!("cpu time: {cpu:.2} s per batch of 32 (all threads)");
        println!(
            "throughput: {:.2} seq/s best, {:.2} seq/s median of {} batches of 32 \
             ({best:.3} s / {median:.3} s per batch)",
            32.0 / best,
            32.0 / median,
            runs.len()
        );
    }
    let q = QUERY;
    println!("query tokens: {}", enc.input_ids(q, TextKind::Query)?.len());
    enc.encode(&[q], TextKind::Query)?;
    let mut times = Vec::new();
    for _ in 0..(rounds.max(1) * if latency_only { 200 } else { 10 }) {
        let t = Instant::now();
        enc.encode(&[q], TextKind::Query)?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "query latency: median {:.1} ms, min {:.1} ms",
        times[times.len() / 2],
        times[0]
    );
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average at the end: {}", load.trim());
    }
    Ok(())
}
