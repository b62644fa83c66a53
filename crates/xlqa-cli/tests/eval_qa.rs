//! `xlqa eval qa` and `xlqa eval compare` end to end: predictions written
//! here are scored against the real XQuAD gold of the shared data (skipped
//! with a message when it is absent), and malformed input must give errors
//! that name the file and the line.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

mod common;
use common::{err, ok};

fn shared_data() -> Option<PathBuf> {
    common::shared_data("xquad/xquad.en.json")
}

/// (id, first answer) of every question of an XQuAD file, in file order.
fn xquad_answers(path: &Path) -> Vec<(String, String)> {
    let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut out = Vec::new();
    for article in v["data"].as_array().unwrap() {
        for p in article["paragraphs"].as_array().unwrap() {
            for q in p["qas"].as_array().unwrap() {
                out.push((
                    q["id"].as_str().unwrap().to_string(),
                    q["answers"][0]["text"].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    out
}

fn report(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap()
}

fn lang_row<'a>(r: &'a Value, lang: &str) -> &'a Value {
    r["languages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["lang"] == lang)
        .unwrap()
}

fn close(x: &Value, expected: f64) {
    let x = x.as_f64().unwrap();
    assert!((x - expected).abs() < 1e-9, "{x} != {expected}");
}

#[test]
fn xquad_scores_and_paired_bootstrap() {
    let Some(data) = shared_data() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let en = xquad_answers(&data.join("xquad/xquad.en.json"));
    let zh = xquad_answers(&data.join("xquad/xquad.zh.json"));
    assert_eq!((en.len(), zh.len()), (1190, 1190));
    assert_eq!(en[4].1, "Kawann Short");

    // Run A: en — question 4 "Kawann Short Jr" (tokens [kawann, short, jr]
    // vs [kawann, short]: P = 2/3, R = 1, F1 = 0.8, EM 0), questions
    // 1000..1189 wrong ("zzqx": 0), the other 999 exact; zh — all exact;
    // the 10 other languages have no prediction (0).
    let mut a_en = serde_json::Map::new();
    for (i, (id, ans)) in en.iter().enumerate() {
        let p = match i {
            4 => "Kawann Short Jr".to_string(),
            i if i >= 1000 => "zzqx".to_string(),
            _ => ans.clone(),
        };
        a_en.insert(id.clone(), json!(p));
    }
    let all_zh: serde_json::Map<String, Value> =
        zh.iter().map(|(id, a)| (id.clone(), json!(a))).collect();
    let pred_a = tmp.path().join("a.json");
    std::fs::write(&pred_a, json!({"en": a_en, "zh": all_zh}).to_string()).unwrap();
    let out_a = tmp.path().join("run_a");
    let gold = data.join("xquad");
    let stdout = ok(&[
        "eval",
        "qa",
        "--gold",
        gold.to_str().unwrap(),
        "--pred",
        pred_a.to_str().unwrap(),
        "--out",
        out_a.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(
        stdout.contains("| en | en | 1190 | 0 | 0 | 83.95 | 84.02 |"),
        "{stdout}"
    );
    let r = report(&out_a);
    let f1_en = 100.0 * 999.8 / 1190.0; // 84.0168…
    let em_en = 100.0 * 999.0 / 1190.0; // 83.9496…
    close(&lang_row(&r, "en")["f1"], f1_en);
    close(&lang_row(&r, "en")["em"], em_en);
    close(&lang_row(&r, "zh")["f1"], 100.0);
    close(&lang_row(&r, "de")["f1"], 0.0);
    assert_eq!(lang_row(&r, "de")["missing_predictions"], 1190);
    assert_eq!(r["missing_predictions"], 10 * 1190);
    // macro = (84.0168 + 100 + 10 · 0)/12; micro = (999.8 + 1190)/14280
    close(&r["macro_avg"]["f1"], (f1_en + 100.0) / 12.0);
    close(&r["micro_avg"]["f1"], 100.0 * (999.8 + 1190.0) / 14280.0);
    let pq = std::fs::read_to_string(out_a.join("per_question.jsonl")).unwrap();
    assert_eq!(pq.lines().count(), 12 * 1190);
    let line4: Value = serde_json::from_str(
        pq.lines()
            .find(|l| l.contains(&en[4].0) && l.contains("\"en\""))
            .unwrap(),
    )
    .unwrap();
    close(&line4["metrics"]["f1"], 0.8);
    assert!(out_a.join("report.md").is_file());

    // --require-all: the 11,900 missing predictions are an error
    let e = err(&[
        "eval",
        "qa",
        "--gold",
        gold.to_str().unwrap(),
        "--pred",
        pred_a.to_str().unwrap(),
        "--require-all",
        "--quiet",
    ]);
    assert!(
        e.contains("11900 of 14280 questions have no prediction"),
        "{e}"
    );
    // bare ids over 12 languages are ambiguous
    let bare = tmp.path().join("bare.json");
    std::fs::write(&bare, serde_json::Value::Object(a_en.clone()).to_string()).unwrap();
    let e = err(&[
        "eval",
        "qa",
        "--gold",
        gold.to_str().unwrap(),
        "--pred",
        bare.to_str().unwrap(),
        "-q",
    ]);
    assert!(e.contains("ambiguous") && e.contains("--lang"), "{e}");
    // … but fine with --lang en: same en numbers
    let out_en = tmp.path().join("run_en");
    ok(&[
        "eval",
        "qa",
        "--gold",
        gold.to_str().unwrap(),
        "--pred",
        bare.to_str().unwrap(),
        "--lang",
        "en",
        "--out",
        out_en.to_str().unwrap(),
        "-q",
    ]);
    close(&report(&out_en)["macro_avg"]["f1"], f1_en);

    // Run B: every en and zh answer exact.
    let all_en: serde_json::Map<String, Value> =
        en.iter().map(|(id, a)| (id.clone(), json!(a))).collect();
    let pred_b = tmp.path().join("b.json");
    std::fs::write(&pred_b, json!({"en": all_en, "zh": all_zh}).to_string()).unwrap();
    let out_b = tmp.path().join("run_b");
    ok(&[
        "eval",
        "qa",
        "--gold",
        gold.to_str().unwrap(),
        "--pred",
        pred_b.to_str().unwrap(),
        "--out",
        out_b.to_str().unwrap(),
        "-q",
    ]);

    // A vs A: no difference, interval [0, 0], p = 1
    let cmp = tmp.path().join("cmp_same");
    ok(&[
        "eval",
        "compare",
        out_a.to_str().unwrap(),
        out_a.to_str().unwrap(),
        "--out",
        cmp.to_str().unwrap(),
    ]);
    let c = report(&cmp);
    for row in c["rows"].as_array().unwrap() {
        assert_eq!(row["diff"], 0.0);
        assert_eq!(
            (row["ci_low"].as_f64(), row["ci_high"].as_f64()),
            (Some(0.0), Some(0.0))
        );
        assert_eq!(row["p_value"], 1.0);
    }
    // A vs B on F1: en differs by (999.8 − 1190)/1190 = −0.15983; B is
    // better or equal on every en question, so no resample flips the sign
    let cmp = tmp.path().join("cmp_ab");
    let md = ok(&[
        "eval",
        "compare",
        out_a.to_str().unwrap(),
        out_b.to_str().unwrap(),
        "--metric",
        "f1",
        "--samples",
        "200",
        "--out",
        cmp.to_str().unwrap(),
    ]);
    assert!(md.contains("| en | 1190 |"), "{md}");
    let c = report(&cmp);
    let en_row = c["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["scope"] == "en")
        .unwrap();
    close(&en_row["diff"], (999.8 - 1190.0) / 1190.0);
    assert_eq!(en_row["p_value"], 0.0);
    assert!(en_row["ci_high"].as_f64().unwrap() < 0.0);
    let zh_row = c["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["scope"] == "zh")
        .unwrap();
    assert_eq!(zh_row["p_value"], 1.0);
    assert_eq!(c["matched"], 14280);
    // unknown metric: the error names the file and line
    let e = err(&[
        "eval",
        "compare",
        out_a.to_str().unwrap(),
        out_b.to_str().unwrap(),
        "--metric",
        "bleu",
    ]);
    assert!(
        e.contains("per_question.jsonl' line 1") && e.contains("no metric \"bleu\""),
        "{e}"
    );
}

#[test]
fn malformed_input_names_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let gold = tmp.path().join("gold.jsonl");
    std::fs::write(
        &gold,
        "{\"id\":\"q1\",\"question\":\"Wer?\",\"answers\":[\"Goethe\"],\"lang\":\"de\"}\n{\"id\":\"q2\",\"question\":\"Wo?\",\"answers\":[\"in Berlin\", \"Berlin\"],\"lang\":\"de\"}\n",
    )
    .unwrap();
    let pred = tmp.path().join("pred.jsonl");
    std::fs::write(
        &pred,
        "{\"id\":\"q1\",\"prediction\":\"Goethe\"}\n{\"id\":\"q2\",\"prediction\":[\"Berlin\"]}\n",
    )
    .unwrap();
    let e = err(&[
        "eval",
        "qa",
        "--gold",
        gold.to_str().unwrap(),
        "--pred",
        pred.to_str().unwrap(),
    ]);
    assert!(
        e.contains("pred.jsonl' line 2, field \"prediction\": expected a string or null"),
        "{e}"
    );

    // a valid run on the same gold: q1 exact; q2 "Berlin Mitte" vs the best
    // alias "Berlin": P = 1/2, R = 1 → F1 2/3; macro F1 = (1 + 2/3)/2
    std::fs::write(
        &pred,
        "{\"id\":\"q1\",\"prediction\":\"Goethe\"}\n{\"id\":\"q2\",\"prediction\":\"Berlin Mitte\"}\n",
    )
    .unwrap();
    let out = tmp.path().join("out");
    ok(&[
        "eval",
        "qa",
        "--gold",
        gold.to_str().unwrap(),
        "--pred",
        pred.to_str().unwrap(),
        "--bleu",
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    let r = report(&out);
    close(&r["macro_avg"]["f1"], 100.0 * (1.0 + 2.0 / 3.0) / 2.0);
    close(&r["macro_avg"]["em"], 50.0);
    assert_eq!(r["gold_format"], "xor");

    // unknown ids in the predictions are named
    std::fs::write(&pred, "{\"id\":\"q9\",\"prediction\":\"x\"}\n").unwrap();
    let e = err(&[
        "eval",
        "qa",
        "--gold",
        gold.to_str().unwrap(),
        "--pred",
        pred.to_str().unwrap(),
    ]);
    assert!(e.contains("\"q9\" (line 1)"), "{e}");

    // malformed gold: line 2 has no answers
    std::fs::write(
        &gold,
        "{\"id\":\"q1\",\"question\":\"Wer?\",\"answers\":[\"Goethe\"],\"lang\":\"de\"}\n{\"id\":\"q2\",\"question\":\"Wo?\",\"answers\":[],\"lang\":\"de\"}\n",
    )
    .unwrap();
    let e = err(&[
        "eval",
        "qa",
        "--gold",
        gold.to_str().unwrap(),
        "--pred",
        pred.to_str().unwrap(),
    ]);
    assert!(
        e.contains("gold.jsonl' line 2, field \"answers\": empty answer list"),
        "{e}"
    );

    // a broken per_question.jsonl for compare
    let pq = tmp.path().join("per_question.jsonl");
    std::fs::write(
        &pq,
        "{\"id\":\"q1\",\"lang\":\"de\",\"metrics\":{\"f1\":1}}\nnot json\n",
    )
    .unwrap();
    let e = err(&[
        "eval",
        "compare",
        pq.to_str().unwrap(),
        pq.to_str().unwrap(),
    ]);
    assert!(
        e.contains("per_question.jsonl' line 2: not valid JSON"),
        "{e}"
    );
}
