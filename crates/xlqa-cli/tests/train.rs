//! `xlqa train encoder` end to end on a tiny slice of the real training data
//! (skipped with a message when the shared data is absent): the loss falls,
//! the adapter is written with its checksum and recipe, checkpoints exist,
//! runs are reproducible, and `xlqa eval lareqa --adapter` uses it. The
//! default method fine-tunes the top layers: its delta is written with
//! checksum, recipe and checkpoints, `xlqa index --encoder DIR` records it,
//! and `ask` reopens the index with it.

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
        "--method",
        "adapter",
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
            "--encoder",
            "base",
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

#[test]
fn fine_tunes_top_layers_and_indexes_with_the_delta() {
    let Some(data) = common::shared_data("tatoeba_laser_v1") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ft");
    let o = out.to_str().unwrap();
    let d = data.to_str().unwrap();
    let args = [
        "train",
        "encoder",
        "--out",
        o,
        "--data",
        d,
        "--langs",
        "de,ko",
        "--tatoeba-per-lang",
        "12",
        "--xor-per-lang",
        "12",
        "--tydi-per-lang",
        "12",
        "--train-batch-size",
        "8",
        "--train-layers",
        "1",
        "--max-steps",
        "3",
        "--dev-every",
        "8",
        "--quiet",
    ];
    ok(&args);
    let meta: Value =
        serde_json::from_slice(&std::fs::read(out.join("encoder.json")).unwrap()).unwrap();
    assert_eq!(meta["format"], "xlqa-encoder-delta/1");
    assert_eq!(meta["base_encoder"], "multilingual-e5-small-q4");
    assert_eq!(meta["from_layer"], 11);
    assert_eq!(meta["layers"], 1);
    assert_eq!(meta["weights_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(meta["recipe"]["config"]["loss"], "dpr");
    assert!(meta["recipe"]["command"]
        .as_str()
        .unwrap()
        .contains("--train-layers 1"));
    let epochs = meta["log"]["epochs"].as_array().unwrap();
    assert_eq!(epochs[0]["epoch"], 0);
    assert!(out
        .join("checkpoints/epoch-1/encoder.safetensors")
        .is_file());
    // a second run into the same folder is refused without --force
    let e = err(&args);
    assert!(e.contains("--force"), "{e}");

    // index with the delta: the manifest names it; ask reopens it
    let coll =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/demo/collection.jsonl");
    let idx = tmp.path().join("idx");
    ok(&[
        "index",
        coll.to_str().unwrap(),
        "--out",
        idx.to_str().unwrap(),
        "--encoder",
        o,
        "--quiet",
    ]);
    let m: Value =
        serde_json::from_slice(&std::fs::read(idx.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["encoder"]["id"], "multilingual-e5-small-q4+xlqa-align");
    assert!(m["encoder"]["delta_dir"].as_str().unwrap().ends_with("ft"));
    let i = idx.to_str().unwrap();
    let a = ok(&[
        "ask",
        i,
        "Who painted the Mona Lisa?",
        "--reader",
        "sentence",
        "--json",
    ]);
    assert!(a.contains("\"passages\""), "{a}");
    // the base encoder does not fit this index
    let e = err(&["ask", i, "Who painted the Mona Lisa?", "--encoder", "base"]);
    assert!(
        e.contains("was built with encoder multilingual-e5-small-q4+xlqa-align"),
        "{e}"
    );
    let e = err(&[
        "index",
        coll.to_str().unwrap(),
        "--out",
        i,
        "--force",
        "--encoder",
        "/no/such/dir",
    ]);
    assert!(e.contains("--encoder '/no/such/dir'"), "{e}");
}
