//! Smoke runs of the encoder benchmark programs on real data: `e5_bench`
//! (one round, and its dump of the peers' inputs) and `e5_accuracy` on 5
//! texts per language, whose cosine floor is the int8 accuracy requirement
//! (>= 0.995 against f32). Timings are printed, never checked.
mod common;

use std::process::Command;

fn example(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .and_then(|d| d.parent())
        .unwrap()
        .join("examples")
        .join(name)
}

/// Runs an example with env vars; its stdout (printed), asserting success.
fn run(name: &str, args: &[&str], env: &[(&str, &std::path::Path)]) -> String {
    let mut cmd = Command::new(example(name));
    cmd.args(args).env("RAYON_NUM_THREADS", "2");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    println!("{text}");
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn encoder_bench_programs_run() {
    let Some(data) = common::data_dir("encoder_bench_programs_run") else {
        return;
    };
    common::home().ensure(&xlqa_models::E5_SMALL_Q4).unwrap();
    common::home()
        .ensure(&xlqa_models::E5_SMALL_TOKENIZER)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("inputs.json");
    let text = run(
        "e5_bench",
        &["int8", "1"],
        &[("XLQA_DATA", &data), ("E5_BENCH_DUMP", &dump)],
    );
    assert!(text.contains("throughput:") && text.contains("query latency:"));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&dump).unwrap()).unwrap();
    let ids = v["batch_ids"].as_array().unwrap();
    assert_eq!(ids.len(), 32);
    assert!(ids.iter().all(|r| r.as_array().unwrap().len() == 128));
    assert_eq!(v["batch_texts"].as_array().unwrap().len(), 32);

    let text = run("e5_accuracy", &["int8", "5"], &[("XLQA_DATA", &data)]);
    let all = text.lines().find(|l| l.starts_with("| all |")).unwrap();
    let min: f64 = all.split('|').nth(3).unwrap().trim().parse().unwrap();
    assert_eq!(all.split('|').nth(2).unwrap().trim(), "55");
    assert!(min >= 0.995, "int8 vs f32 min cosine {min}");
}
