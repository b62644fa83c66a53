//! Smoke run of the dense-search benchmark program (`examples/dense_bench.rs`)
//! at a tiny size: it must run and report sane, time-free facts (recall of
//! the int8 scan against the exact f32 scan, memory per vector). Timings are
//! printed, never checked.
use std::process::Command;

fn example(name: &str) -> std::path::PathBuf {
    // target/<profile>/deps/<this test> → target/<profile>/examples/<name>
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    dir.join("examples").join(name)
}

#[test]
fn dense_bench_runs_and_reports_recall_and_memory() {
    let bin = example("dense_bench");
    assert!(
        bin.exists(),
        "{} not built (cargo test builds examples)",
        bin.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(&bin)
        .arg(dir.path())
        .arg("3000")
        .arg("384")
        .env("RAYON_NUM_THREADS", "2")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    println!("{v}");
    assert_eq!(v["n"], 3000);
    assert!(
        v["recall_at_10_int8_vs_f32"].as_f64().unwrap() >= 0.99,
        "{v}"
    );
    // 384 int8 + scale + offset: within the 0.5 KB budget
    assert!(
        v["memory_bytes_per_vector"].as_f64().unwrap() <= 512.0,
        "{v}"
    );
    for k in ["int8_p50_ms", "f32_p50_ms", "int8_batch64_qps", "open_s"] {
        assert!(v[k].as_f64().is_some_and(|x| x >= 0.0), "{k} in {v}");
    }
    // the same files are what the FAISS comparison reads
    assert_eq!(
        std::fs::metadata(dir.path().join("base-3000.f32"))
            .unwrap()
            .len(),
        3000 * 384 * 4
    );
}
