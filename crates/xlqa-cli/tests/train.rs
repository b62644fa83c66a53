//! `xlqa train encoder` end to end on a tiny slice of the real training data
//! (skipped with a message when the shared data is absent): the loss falls,
//! the adapter is written with its checksum and recipe, checkpoints exist,
//! runs are reproducible, and `xlqa eval lareqa --adapter` uses it.

use serde_json::Value;

mod common;
use common::{err, ok};

fn train(out: &std::path::Path, data: &std::path::Path, extra: &[&str]) -> Value {
    // a cache of this test's own: the vectors of a text then do not depend on
    // which other texts shared its encoder batch in some earlier run
    let cache = out.parent().unwrap().join("cache");
    let mut args = vec![
        "train",
        "encoder",
        "--cache-dir",
        cache.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--langs",
        "de,ko",
        "--tatoeba-per-lang",
        "40",
        "--xor-per-lang",
        "40",
        "--tydi-per-lang",
        "30",
        "--train-batch-size",
        "16",
        "--epochs",
        "3",
        "--lr",
        "0.005",
        "--reg",
        "0.01",
        "--dev-every",
        "10",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    ok(&args);
    serde_json::from_slice(&std::fs::read(out.join("adapter.json")).unwrap()).unwrap()
}

#[test]
fn trains_a_tiny_adapter_and_evaluates_with_it() {
    let Some(data) = common::shared_data("tatoeba_laser_v1") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let meta = train(&a, &data, &[]);
    assert_eq!(meta["format"], "xlqa-adapter");
    assert_eq!(meta["dim"], 384);
    assert_eq!(meta["input"], "center");
    assert_eq!(meta["weights_sha256"].as_str().unwrap().len(), 64);
    let epochs = meta["log"]["epochs"].as_array().unwrap();
    // epoch 0 (the base model) and three trained epochs
    assert_eq!(epochs.len(), 4);
    assert!(epochs[0]["train_loss"].is_null());
    let loss = |e: &Value| e["train_loss"].as_f64().unwrap();
    assert!(
        loss(&epochs[3]) < loss(&epochs[1]),
        "training loss did not fall: {epochs:?}"
    );
    // tatoeba de + ko (+ en pivot), xor ko, tydi en/ko: both languages seen
    let sources = &meta["recipe"]["sources"];
    assert!(
        sources["tatoeba"]["pairs_by_lang"]["de-en"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(sources["xor"]["pairs_by_lang"]["ko-en"].as_u64().unwrap() > 0);
    for e in 1..=3 {
        assert!(a
            .join(format!("checkpoints/epoch-{e}/adapter.safetensors"))
            .is_file());
    }
    // same seed and embeddings (the second run reads them from the cache): same weights
    let b = tmp.path().join("b");
    let meta_b = train(&b, &data, &[]);
    assert_eq!(meta["weights_sha256"], meta_b["weights_sha256"]);

    // LAReQA with the adapter on a parallel slice
    let lareqa = data.join("lareqa_xquad_r");
    let args = |extra: &[&'static str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "eval",
            "lareqa",
            "--data",
            lareqa.to_str().unwrap(),
            "--langs",
            "de,en",
            "--limit-articles",
            "1",
            "--adapter",
            a.to_str().unwrap(),
            "--quiet",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let with = args(&["--debias", "center"]);
    let out = ok(&with.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    assert!(out.contains("mAP"), "{out}");
    // an adapter trained on centered vectors refuses raw ones
    let without = args(&[]);
    let e = err(&without.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    assert!(e.contains("--debias center"), "{e}");
}

#[test]
fn bad_training_options_are_named() {
    let Some(data) = common::shared_data("tatoeba_laser_v1") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let d = data.to_str().unwrap();
    let o = tmp.path().join("o");
    let o = o.to_str().unwrap();
    let e = err(&[
        "train", "encoder", "--out", o, "--data", d, "--langs", "xx-bad!",
    ]);
    assert!(e.contains("--langs"), "{e}");
    let e = err(&[
        "train", "encoder", "--out", o, "--data", d, "--loss", "hinge",
    ]);
    assert!(e.contains("hinge") && e.contains("mixcse"), "{e}");
    let e = err(&[
        "train", "encoder", "--out", o, "--data", d, "--input", "whitened",
    ]);
    assert!(e.contains("whitened"), "{e}");
    let e = err(&[
        "train",
        "encoder",
        "--out",
        o,
        "--data",
        d,
        "--tatoeba-per-lang",
        "0",
        "--xor-per-lang",
        "0",
        "--tydi-per-lang",
        "0",
    ]);
    assert!(e.contains("no training pairs"), "{e}");
}
