//! Adds an HNSW graph to an existing index (what `xlqa index --ann hnsw`
//! builds at index time), without re-encoding: for timing `ask` with and
//! without the graph on the same index.
//!
//! `cargo run --release -p xlqa-index --example ann_add -- INDEX_DIR [M]`
use std::path::PathBuf;
use std::time::Instant;

use xlqa_index::{AnnInfo, DenseIndex, HnswParams, Manifest, ANN_FILE, DENSE_FILE, MANIFEST_FILE};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(args.get(1).ok_or("usage: ann_add INDEX_DIR [M]")?);
    let m: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(16);
    let mpath = dir.join(MANIFEST_FILE);
    let mut manifest = Manifest::read(&mpath)?;
    let dense_path = dir.join(DENSE_FILE);
    let mut d = DenseIndex::open(&dense_path, manifest.encoder.dim, manifest.counts.passages)?;
    let params = HnswParams {
        m,
        ..Default::default()
    };
    let t = Instant::now();
    d.build_ann(&dense_path, params, &|_| {})?;
    let build_s = t.elapsed().as_secs_f64();
    let tmp = dir.join(format!("{ANN_FILE}.tmp"));
    d.write_ann(&tmp)?;
    std::fs::rename(&tmp, dir.join(ANN_FILE))?;
    manifest.ann = Some(AnnInfo {
        kind: "hnsw".into(),
        m: params.m,
        ef_construction: params.ef_construction,
        seed: params.seed,
    });
    manifest.write(&mpath)?;
    println!(
        "{}",
        serde_json::json!({"vectors": d.len(), "build_s": build_s,
            "graph_bytes_per_vector": d.ann_memory_bytes() as f64 / d.len().max(1) as f64})
    );
    Ok(())
}
