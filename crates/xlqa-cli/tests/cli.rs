//! End-to-end tests of the `xlqa` binary with the real models: index the demo
//! collection, ask questions across languages, check the outputs and the
//! error messages for bad input. The models are installed into the user's
//! cache (or `$XLQA_HOME`) on first use.

use std::path::{Path, PathBuf};

use std::sync::OnceLock;

mod common;
use common::{err, ok};

fn demo_collection() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/demo/collection.jsonl")
}

/// Indexes the demo collection into `out` (quietly), plus `extra`.
fn index_demo(out: &Path, extra: &[&str]) {
    let coll = demo_collection();
    let mut args = vec![
        "index",
        coll.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ];
    args.extend_from_slice(extra);
    ok(&args);
}

/// The demo index, built once for all tests of this file.
fn demo_index() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let idx = tmp.path().join("idx");
        index_demo(&idx, &[]);
        (tmp, idx)
    })
    .1
}

fn ask_json(question: &str, extra: &[&str]) -> serde_json::Value {
    let idx = demo_index().to_str().unwrap().to_string();
    let mut args = vec!["ask", idx.as_str(), question, "--json"];
    args.extend_from_slice(extra);
    let out = ok(&args);
    serde_json::from_str(out.trim()).expect("one JSON object")
}

#[test]
fn cross_lingual_answers_with_evidence_and_flags() {
    // asked in English; the height is only in the Swahili passage
    let r = ask_json("How high is Mount Kilimanjaro?", &[]);
    assert_eq!(r["question_lang"], "en");
    assert_eq!(r["question_lang_source"], "detected");
    let a = &r["answer"];
    assert_eq!(a["doc_id"], "kilimanjaro-sw", "{r:#}");
    assert_eq!(a["lang"], "sw");
    assert_eq!(a["cross_lingual"], true);
    assert!(r["note"].as_str().unwrap().contains("another language"));
    for stage in [
        "lang_id_ms",
        "encode_ms",
        "dense_ms",
        "lexical_ms",
        "fuse_ms",
        "read_ms",
        "total_ms",
    ] {
        assert!(r["timings"][stage].as_f64().is_some(), "missing {stage}");
    }
    // asked in Korean; the length is in the Russian passage (the sentence
    // reader: the shipped span reader takes the Great Wall's length from
    // the Chinese passage here, docs/RESULTS.md)
    let r = ask_json(
        "시베리아 횡단 철도의 길이는 얼마입니까?",
        &["--reader", "sentence"],
    );
    assert_eq!(r["question_lang"], "ko");
    assert!(
        r["answer"]["text"].as_str().unwrap().contains("9289"),
        "{r:#}"
    );
    assert_eq!(r["answer"]["lang"], "ru");
    // an answer in the question's language is not flagged
    let r = ask_json("Wann wurde Beethoven geboren?", &[]);
    assert_eq!(r["answer"]["doc_id"], "beethoven-de", "{r:#}");
    assert_eq!(r["answer"]["cross_lingual"], false);
    assert!(r["note"].is_null());
}

#[test]
fn retrievers_and_language_exclusion() {
    for retriever in ["bm25", "dense", "hybrid"] {
        let r = ask_json(
            "Wer hat die koreanische Schrift Hangul geschaffen?",
            &["--retriever", retriever, "--reader", "none"],
        );
        let ps = r["passages"].as_array().unwrap();
        assert!(!ps.is_empty(), "{retriever}: no passages");
        assert!(r["answer"].is_null());
        if retriever != "bm25" {
            let ids: Vec<&str> = ps.iter().map(|p| p["doc_id"].as_str().unwrap()).collect();
            assert!(ids.contains(&"hangul-ko"), "{retriever}: {ids:?}");
        }
    }
    let r = ask_json(
        "Wie hoch ist der Kilimandscharo?",
        &["--exclude-lang", "de,en", "--k", "10"],
    );
    for p in r["passages"].as_array().unwrap() {
        assert!(p["lang"] != "de" && p["lang"] != "en", "{p}");
    }
}

#[test]
fn questions_file_and_trec_run() {
    let tmp = tempfile::tempdir().unwrap();
    let qs = tmp.path().join("q.jsonl");
    std::fs::write(
        &qs,
        "{\"id\":\"a\",\"question\":\"Какова высота горы Фудзи?\"}\nWho built the Taj Mahal?\n",
    )
    .unwrap();
    let run = tmp.path().join("run.trec");
    let out = ok(&[
        "ask",
        demo_index().to_str().unwrap(),
        "--questions",
        qs.to_str().unwrap(),
        "--run",
        run.to_str().unwrap(),
        "--k",
        "3",
    ]);
    assert!(out.contains("Q [ru"), "{out}");
    let lines: Vec<String> = std::fs::read_to_string(&run)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(lines.len(), 6);
    let f: Vec<&str> = lines[0].split(' ').collect();
    assert_eq!((f[0], f[1], f[3], f[5]), ("a", "Q0", "1", "xlqa"));
    assert!(lines[3].starts_with("q2 Q0 "));
}

#[test]
fn bad_input_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"id\":\"a\",\"text\":\"Ein gültiges Dokument mit genug Text, um einen Abschnitt zu bilden, der lang genug ist.\"}\n{\"id\":\"b\",\"title\":\"x\"}\n").unwrap();
    let out = tmp.path().join("idx");
    let e = err(&[
        "index",
        bad.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(
        e.contains("bad.jsonl:2") && e.contains("missing field \"text\""),
        "{e}"
    );
    assert!(!out.exists(), "no index may be left behind");

    let e = err(&[
        "index",
        "/nonexistent/file.jsonl",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        e.contains("/nonexistent/file.jsonl") && e.contains("cannot open"),
        "{e}"
    );

    let e = err(&["ask", tmp.path().to_str().unwrap(), "hello"]);
    assert!(e.contains("is not an xlqa index"), "{e}");

    let e = err(&[
        "ask",
        demo_index().to_str().unwrap(),
        "hello",
        "--lang",
        "klingon",
    ]);
    assert!(e.contains("not a language code"), "{e}");

    let e = err(&[
        "index",
        demo_collection().to_str().unwrap(),
        "--out",
        demo_index().to_str().unwrap(),
    ]);
    assert!(
        e.contains("already holds an index") && e.contains("--force"),
        "{e}"
    );
}

#[test]
fn skip_invalid_counts_and_mismatched_encoder_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let coll = tmp.path().join("c.jsonl");
    let mut text = std::fs::read_to_string(demo_collection())
        .unwrap()
        .lines()
        .take(4)
        .collect::<Vec<_>>()
        .join("\n");
    text.push_str("\nnot json at all\n");
    std::fs::write(&coll, text).unwrap();
    let idx = tmp.path().join("idx");
    let out = ok(&[
        "index",
        coll.to_str().unwrap(),
        "--out",
        idx.to_str().unwrap(),
        "--skip-invalid",
        "--quiet",
        "--json",
    ]);
    let rep: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rep["counts"]["documents"], 4);
    assert_eq!(rep["counts"]["skipped_invalid"], 1);
    assert_eq!(rep["counts"]["lang_detected"], 4);
    // four passages: too few for de-biasing, and the report says so
    let d = rep["debias"].as_str().unwrap_or_default();
    assert!(
        d.contains("skipped") && d.contains("50 passages"),
        "{rep:#}"
    );

    // an index claiming another encoder is refused with a clear message
    let mpath = idx.join("manifest.json");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
    m["encoder"]["weights_sha256"] = serde_json::json!("0".repeat(64));
    std::fs::write(&mpath, serde_json::to_vec(&m).unwrap()).unwrap();
    let e = err(&[
        "ask",
        idx.to_str().unwrap(),
        "Wie hoch ist der Kilimandscharo?",
    ]);
    assert!(
        e.contains("was built with encoder") && e.contains("rebuild"),
        "{e}"
    );
}

#[test]
fn debiased_index_records_its_transform_and_warns_on_fallback() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = tmp.path().join("idx");
    // the demo has 8 English, 3 German, 3 Spanish passages and fewer for the rest
    index_demo(&idx, &["--debias", "center", "--debias-min-passages", "3"]);
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(idx.join("manifest.json")).unwrap()).unwrap();
    let d = &m["debias"];
    assert_eq!(d["method"]["kind"], "center", "{d:#}");
    let fitted: Vec<&str> = d["means"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(fitted, vec!["de", "en", "es"]);
    assert_eq!(d["means"]["en"].as_array().unwrap().len(), 384);
    let ix = idx.to_str().unwrap();
    // German has statistics: no warning, and the German passage still wins
    let out = ok(&["ask", ix, "Wann wurde Beethoven geboren?", "--json"]);
    let r: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(r["warnings"].is_null(), "{r:#}");
    assert_eq!(r["answer"]["doc_id"], "beethoven-de", "{r:#}");
    // Korean has one passage: the fallback is used and said
    let out = ok(&[
        "ask",
        ix,
        "시베리아 횡단 철도의 길이는 얼마입니까?",
        "--json",
    ]);
    let r: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let w = r["warnings"][0].as_str().unwrap_or_default();
    assert!(
        w.contains("de-biasing (center)") && w.contains(" ko "),
        "{r:#}"
    );
    // BM25 alone uses no vectors: no warning
    let out = ok(&[
        "ask",
        ix,
        "시베리아 횡단 철도의 길이는 얼마입니까?",
        "--json",
        "--retriever",
        "bm25",
        "--reader",
        "none",
    ]);
    let r: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(r["warnings"].is_null(), "{r:#}");
    // a bad method is named
    let e = err(&[
        "index",
        demo_collection().to_str().unwrap(),
        "--out",
        tmp.path().join("x").to_str().unwrap(),
        "--debias",
        "lir:0",
    ]);
    assert!(e.contains("lir:0") && e.contains("rank"), "{e}");
}

#[test]
fn default_index_of_a_small_collection_skips_debiasing() {
    // every demo language has fewer than 50 passages: nothing to fit
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(demo_index().join("manifest.json")).unwrap())
            .unwrap();
    assert!(m.get("debias").is_none(), "{m:#}");
}

#[test]
fn hnsw_index_records_its_graph_and_answers_like_the_scan() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = tmp.path().join("idx");
    index_demo(&idx, &["--ann", "hnsw", "--hnsw-m", "8"]);
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(idx.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["ann"]["kind"], "hnsw", "{m:#}");
    assert_eq!(m["ann"]["m"], 8);
    assert!(idx.join("ann.hnsw").exists());
    // on 34 passages a beam of 128 visits the whole graph: same ranking
    let ask = |extra: &[&str]| {
        let mut args = vec![
            "ask",
            idx.to_str().unwrap(),
            "How high is Mount Kilimanjaro?",
            "--json",
            "--retriever",
            "dense",
            "--k",
            "10",
        ];
        args.extend_from_slice(extra);
        let v: serde_json::Value = serde_json::from_str(ok(&args).trim()).unwrap();
        let ids: Vec<String> = v["passages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_string())
            .collect();
        ids
    };
    let approx = ask(&[]);
    assert_eq!(approx.len(), 10);
    assert_eq!(approx, ask(&["--exact"]));
    // a damaged graph is refused with the file named
    std::fs::write(idx.join("ann.hnsw"), b"XLQAHNSWbroken").unwrap();
    let e = err(&[
        "ask",
        idx.to_str().unwrap(),
        "How high is Mount Kilimanjaro?",
    ]);
    assert!(e.contains("ann.hnsw") && e.contains("rebuild"), "{e}");
}
