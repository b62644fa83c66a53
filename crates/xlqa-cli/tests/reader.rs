//! `xlqa ask` with the shipped span reader: short answers, the answer
//! carried into a linked passage in the question's language, and the honest
//! note when no linked passage exists.

use std::path::Path;

mod common;
use common::{err, ok};

const DOCS: &str = r#"{"id":"bridge-en","title":"Old Harbour Bridge","text":"The Old Harbour Bridge was designed by the engineer Anna Lindqvist. It was opened in 1932 and is 480 metres long. It carries trains and cars across the river.","lang":"en","group":"bridge"}
{"id":"bridge-de","title":"Alte Hafenbrücke","text":"Die Alte Hafenbrücke wurde von der Ingenieurin Anna Lindqvist entworfen. Sie wurde 1932 eröffnet und ist 480 Meter lang. Sie trägt Züge und Autos über den Fluss.","lang":"de","group":"bridge"}
{"id":"lake-fr","title":"Lac Bleu","text":"Le lac Bleu se trouve dans les Pyrénées, à 1 968 mètres d'altitude. Sa profondeur maximale est de 120 mètres et il gèle chaque hiver.","lang":"fr"}
{"id":"tea-ja","title":"緑茶","text":"緑茶は発酵させない茶であり、日本では静岡県が最大の産地である。鹿児島県と三重県がそれに続き、毎年五月に新茶が摘まれる。","lang":"ja"}
"#;

fn index(dir: &Path) -> String {
    let coll = dir.join("docs.jsonl");
    std::fs::write(&coll, DOCS).unwrap();
    let idx = dir.join("idx");
    ok(&[
        "index",
        coll.to_str().unwrap(),
        "--out",
        idx.to_str().unwrap(),
        "--quiet",
    ]);
    idx.to_str().unwrap().to_string()
}

fn ask(idx: &str, q: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["ask", idx, q, "--json"];
    args.extend_from_slice(extra);
    serde_json::from_str(ok(&args).trim()).expect("one JSON object")
}

#[test]
fn span_answers_projection_and_notes() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = index(tmp.path());

    // same language: a short span, not a sentence
    let r = ask(&idx, "Who designed the Old Harbour Bridge?", &[]);
    let a = &r["answer"];
    assert_eq!(a["reader"], "span", "{r:#}");
    assert_eq!(a["lang"], "en");
    assert!(a["text"].as_str().unwrap().contains("Lindqvist"), "{r:#}");
    assert!(a["text"].as_str().unwrap().len() < 40, "{r:#}");
    assert!(r["note"].is_null(), "{r:#}");

    // German question with the German passages removed from retrieval: the
    // answer is read in English and carried into the linked German passage
    let r = ask(
        &idx,
        "Wie lang ist die Alte Hafenbrücke?",
        &["--exclude-lang", "de"],
    );
    let a = &r["answer"];
    assert_eq!(r["question_lang"], "de");
    assert_eq!(a["lang"], "de", "{r:#}");
    assert_eq!(a["doc_id"], "bridge-de", "{r:#}");
    assert_eq!(a["cross_lingual"], false);
    assert_eq!(a["projected_from"]["lang"], "en", "{r:#}");
    assert_eq!(a["projected_from"]["passage_id"], "bridge-en#0");
    // the mechanics, not the reader's choice: the projected text is a span of
    // the German passage (the span reader's pick itself is checked by the
    // shipped-reader F1 floors)
    let text = a["text"].as_str().unwrap();
    assert!(!text.is_empty() && DOCS.contains(text), "{r:#}");
    if a["projected_from"]["method"] == "identical" {
        assert_eq!(a["projected_from"]["text"], a["text"], "{r:#}");
    }

    // ... and without projection it stays in English, and says so
    let r = ask(
        &idx,
        "Wie lang ist die Alte Hafenbrücke?",
        &["--exclude-lang", "de", "--no-project"],
    );
    assert_eq!(r["answer"]["lang"], "en", "{r:#}");
    assert_eq!(r["answer"]["cross_lingual"], true);
    assert!(
        r["note"].as_str().unwrap().contains("another language"),
        "{r:#}"
    );

    // no linked passage in the question's language: the source language, flagged
    let r = ask(&idx, "How deep is Lac Bleu?", &[]);
    assert_eq!(r["answer"]["lang"], "fr", "{r:#}");
    assert_eq!(r["answer"]["cross_lingual"], true);
    // a span of the French passage (which number the reader picks is its
    // quality, checked by the F1 floors of the shipped-reader test)
    let t = r["answer"]["text"].as_str().unwrap();
    assert!(!t.is_empty() && DOCS.contains(t), "{r:#}");
    assert!(
        r["note"]
            .as_str()
            .unwrap()
            .contains("no passage in en is linked"),
        "{r:#}"
    );

    // the sentence reader stays available
    let r = ask(
        &idx,
        "Who designed the Old Harbour Bridge?",
        &["--reader", "sentence"],
    );
    assert_eq!(r["answer"]["reader"], "sentence", "{r:#}");
}

#[test]
fn a_missing_reader_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = index(tmp.path());
    let e = err(&[
        "ask",
        &idx,
        "Who designed the bridge?",
        "--reader-dir",
        tmp.path().join("nothing").to_str().unwrap(),
    ]);
    assert!(e.contains("no span reader at"), "{e}");
    assert!(e.contains("xlqa train reader"), "{e}");
}
