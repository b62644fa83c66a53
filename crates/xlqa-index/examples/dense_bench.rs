//! Dense search speed and recall: xlqa's int8 scan (+ f32 re-scoring) and
//! its plain f32 scan, on vectors that `bench/peers_search.py` also gives to
//! FAISS.
//!
//! `cargo run --release -p xlqa-index --example dense_bench -- OUT_DIR N [DIM] [--real FILE] [--hnsw M]`
//!
//! Random unit vectors (seeded, so every run and every engine sees the same
//! ones) are written to `OUT_DIR/base-N.f32` and 1,000 queries to
//! `OUT_DIR/queries-N.f32` (raw little-endian f32, row-major); with `--real
//! FILE` (a `dense.f32` of an xlqa index) the base is that file and the
//! queries are every 7th vector of it, slightly perturbed. Prints one JSON
//! object: open (quantize) time, memory, single-query latency p50/p95 for
//! both scans, batched throughput (64 queries a call), and recall@10 of the
//! int8 scan against the exact f32 scan; with `--hnsw M`, the build time,
//! memory, latency and recall@10 of xlqa's HNSW graph at several beam widths.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use xlqa_core::SplitMix64;
use xlqa_index::DenseIndex;

/// A unit vector with entries from an approximately normal distribution.
fn unit(dim: usize, state: &mut SplitMix64) -> Vec<f32> {
    let mut v: Vec<f32> = (0..dim)
        .map(|_| {
            // sum of 4 uniforms, centered: close enough to Gaussian for direction
            (0..4)
                .map(|_| (state.next_u64() >> 40) as f32 / (1u64 << 24) as f32)
                .sum::<f32>()
                - 2.0
        })
        .collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= n);
    v
}

fn write_f32(path: &Path, rows: &[Vec<f32>]) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    for r in rows {
        for x in r {
            w.write_all(&x.to_le_bytes())?;
        }
    }
    w.flush()
}

fn read_f32(path: &Path, dim: usize) -> std::io::Result<Vec<Vec<f32>>> {
    let b = std::fs::read(path)?;
    Ok(b.chunks_exact(dim * 4)
        .map(|r| {
            r.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        })
        .collect())
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: dense_bench OUT_DIR N [DIM] [--real dense.f32]";
    let out = PathBuf::from(args.get(1).ok_or(usage)?);
    let n: usize = args.get(2).ok_or(usage)?.parse()?;
    let dim: usize = args
        .get(3)
        .filter(|a| !a.starts_with("--"))
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(384);
    let real = args
        .iter()
        .position(|a| a == "--real")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);
    std::fs::create_dir_all(&out)?;
    let mut state = SplitMix64::new(42);
    let (base_path, queries) = match &real {
        Some(f) => {
            let base = read_f32(f, dim)?;
            let qs: Vec<Vec<f32>> = base
                .iter()
                .step_by(7)
                .take(1000)
                .map(|v| {
                    let noise = unit(dim, &mut state);
                    let mut q: Vec<f32> = v.iter().zip(&noise).map(|(a, b)| a + 0.3 * b).collect();
                    let nn = q.iter().map(|x| x * x).sum::<f32>().sqrt();
                    q.iter_mut().for_each(|x| *x /= nn);
                    q
                })
                .collect();
            (f.clone(), qs)
        }
        None => {
            let p = out.join(format!("base-{n}.f32"));
            if !p.exists() {
                let mut w = std::io::BufWriter::new(std::fs::File::create(&p)?);
                for _ in 0..n {
                    for x in unit(dim, &mut state) {
                        w.write_all(&x.to_le_bytes())?;
                    }
                }
                w.flush()?;
            }
            let mut qstate = SplitMix64::new(7);
            let qs: Vec<Vec<f32>> = (0..1000).map(|_| unit(dim, &mut qstate)).collect();
            (p, qs)
        }
    };
    let qpath = out.join(format!(
        "queries-{}.f32",
        if real.is_some() {
            "real".to_string()
        } else {
            n.to_string()
        }
    ));
    write_f32(&qpath, &queries)?;

    let t = Instant::now();
    let idx = DenseIndex::open_all(&base_path, dim)?;
    let open_s = t.elapsed().as_secs_f64();
    let k = 10;
    let all = |_: usize| true;
    // single-query latency, both scans
    let mut lat_i8 = Vec::new();
    let mut lat_f32 = Vec::new();
    let mut hits = 0usize;
    let nq_lat = 200.min(queries.len());
    for q in &queries[..nq_lat] {
        let t = Instant::now();
        let a = idx.search(q, k, &all);
        lat_i8.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let b = idx.search_f32(q, k, &all);
        lat_f32.push(t.elapsed().as_secs_f64() * 1e3);
        hits += a
            .iter()
            .filter(|h| b.iter().any(|x| x.passage == h.passage))
            .count();
    }
    // recall over all queries (batched int8 vs one-by-one f32)
    let refs: Vec<&[f32]> = queries.iter().map(Vec::as_slice).collect();
    let t = Instant::now();
    let mut batched = Vec::new();
    for chunk in refs.chunks(64) {
        batched.extend(idx.search_batch(chunk, k, &all));
    }
    let batch_s = t.elapsed().as_secs_f64();
    let mut rhits = 0usize;
    for (q, got) in queries.iter().zip(&batched).skip(nq_lat) {
        let want = idx.search_f32(q, k, &all);
        rhits += got
            .iter()
            .filter(|h| want.iter().any(|x| x.passage == h.passage))
            .count();
    }
    let recall = (hits + rhits) as f64 / (k * queries.len()) as f64;
    // optional HNSW: `--hnsw M` (efConstruction 100)
    let mut ann = serde_json::json!(null);
    if let Some(m) = args
        .iter()
        .position(|a| a == "--hnsw")
        .and_then(|i| args.get(i + 1))
    {
        let params = xlqa_index::HnswParams {
            m: m.parse()?,
            ..Default::default()
        };
        let mut idx = DenseIndex::open_all(&base_path, dim)?;
        let t = Instant::now();
        idx.build_ann(&base_path, params, &|_| {})?;
        let build_s = t.elapsed().as_secs_f64();
        let exact: Vec<Vec<u32>> = queries
            .iter()
            .map(|q| {
                idx.search_f32(q, k, &all)
                    .iter()
                    .map(|h| h.passage)
                    .collect()
            })
            .collect();
        let mut per_ef = Vec::new();
        for ef in [32, 64, 128, 256] {
            let mut lat = Vec::new();
            let mut hit = 0usize;
            for (q, want) in queries.iter().zip(&exact) {
                let t = Instant::now();
                let got = idx.search_approx(q, k, ef, &all);
                lat.push(t.elapsed().as_secs_f64() * 1e3);
                hit += got.iter().filter(|h| want.contains(&h.passage)).count();
            }
            per_ef.push(serde_json::json!({
                "ef": ef, "p50_ms": pct(&mut lat.clone(), 0.5), "p95_ms": pct(&mut lat, 0.95),
                "recall_at_10": hit as f64 / (k * queries.len()) as f64,
            }));
        }
        ann = serde_json::json!({
            "m": params.m, "ef_construction": params.ef_construction, "build_s": build_s,
            "memory_bytes_per_vector": idx.ann_memory_bytes() as f64 / idx.len().max(1) as f64,
            "search": per_ef,
        });
    }
    let v = serde_json::json!({
        "engine": "xlqa",
        "n": idx.len(), "dim": dim, "real": real.is_some(),
        "base": base_path, "queries": qpath,
        "threads": rayon::current_num_threads(),
        "open_s": open_s,
        "memory_bytes_per_vector": idx.memory_bytes() as f64 / idx.len().max(1) as f64,
        "int8_p50_ms": pct(&mut lat_i8.clone(), 0.5), "int8_p95_ms": pct(&mut lat_i8, 0.95),
        "f32_p50_ms": pct(&mut lat_f32.clone(), 0.5), "f32_p95_ms": pct(&mut lat_f32, 0.95),
        "int8_batch64_qps": queries.len() as f64 / batch_s,
        "recall_at_10_int8_vs_f32": recall,
        "hnsw": ann,
    });
    println!("{v}");
    Ok(())
}
