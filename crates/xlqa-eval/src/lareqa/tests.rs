//! Evaluation over a tiny hand-made LAReQA pool (the reader's own tests
//! are in `xlqa_data::lareqa`).

use std::path::Path;

use serde_json::Value;
use xlqa_data::lareqa::{read_lareqa_dir, LareqaData, LoadOptions};

/// One paragraph of two sentences whose question `id` has its answer in
/// the second sentence.
fn para(id: &str, q: &str) -> Value {
    let mut p: Value = serde_json::from_str(PARA).unwrap();
    p["qas"][0]["id"] = id.into();
    p["qas"][0]["question"] = q.into();
    p
}

const PARA: &str = r#"{"context": "Ab cd. Ef gh.", "sentences": ["Ab cd.", "Ef gh."],
    "sentence_breaks": [[0, 6], [7, 13]],
    "qas": [{"answers": [{"text": "gh", "answer_start": 10}]}]}"#;

fn write(dir: &Path, name: &str, v: &Value) {
    std::fs::write(dir.join(name), v.to_string()).unwrap();
}

#[test]
fn mlqa_style_questions_in_some_languages_with_several_answers() {
    // MLQA-R: a question exists in 2–4 of the 7 languages; here q1 in
    // en/de/es, q2 only in en/es; q2 has two answers in en (two sentences)
    let dir = tempfile::tempdir().unwrap();
    let mut en = para("q1", "What?");
    en["qas"].as_array_mut().unwrap().push(serde_json::json!({
        "id": "q2", "question": "Which?",
        "answers": [{"text": "Ab", "answer_start": 0}, {"text": "Ef", "answer_start": 7}]}));
    let mut es = para("q1", "¿Qué?");
    es["qas"].as_array_mut().unwrap().push(serde_json::json!({
        "id": "q2", "question": "¿Cuál?", "answers": [{"text": "Ab", "answer_start": 0}]}));
    write(
        dir.path(),
        "en.json",
        &serde_json::json!({"data": [{"paragraphs": [en]}]}),
    );
    write(
        dir.path(),
        "es.json",
        &serde_json::json!({"data": [{"paragraphs": [es]}]}),
    );
    write(
        dir.path(),
        "de.json",
        &serde_json::json!({"data": [{"paragraphs": [para("q1", "Was?")]}]}),
    );
    let d = read_lareqa_dir(dir.path(), &LoadOptions::default()).unwrap();
    // langs de en es; candidates de0 de1 en0 en1 es0 es1
    let ans = d.answers_by_qid();
    let q1 = d.qids.iter().position(|q| q == "q1").unwrap();
    let q2 = d.qids.iter().position(|q| q == "q2").unwrap();
    assert_eq!(ans[q1], vec![1, 3, 5]);
    assert_eq!(ans[q2], vec![2, 3, 4]);
    assert_eq!(d.questions.len(), 5);

    // a scorer that prefers the question's own language and sentence 0
    struct Own<'a>(&'a LareqaData);
    impl crate::lareqa::PoolScorer for Own<'_> {
        fn scores(&self, q: usize) -> Result<Vec<f32>, crate::lareqa::LareqaError> {
            let ql = self.0.questions[q].lang;
            Ok((0..self.0.candidates.len())
                .map(|c| {
                    let same = self.0.candidates[c].lang == ql;
                    (if same { 10.0 } else { 0.0 }) + if c % 2 == 0 { 1.0 } else { 0.0 }
                })
                .collect())
        }
    }
    let res = crate::lareqa::evaluate(&d, &Own(&d), 1, &|_, _| {}).unwrap();
    let r = res.iter().find(|r| r.id == "q2" && r.lang == "en").unwrap();
    // en question q2: ranking en0 (rel) 11, en1 (rel) 10, then de0 1, es0 (rel) 1
    // (tied block of de0, es0 at ranks 3–4), then de1, es1 0.
    // AP = (1/1 + 2/2 + 3/4) / 3
    assert!((r.ap - (1.0 + 1.0 + 0.75) / 3.0).abs() < 1e-12);
    // –same removes both en targets: pool de0 de1 es0 es1, es0 tied with de0 → 1/2
    assert_eq!(r.ap_minus_same, Some(0.5));
    // mono pool: en0, en1 both correct → 1
    assert_eq!(r.ap_mono, Some(1.0));
    // no target in de for q2
    assert_eq!(r.ap_by_target[0], None);
    // –rand: the only other-language target es0 removed → en0, en1 → 1
    assert_eq!(r.ap_minus_rand, Some(1.0));
}
