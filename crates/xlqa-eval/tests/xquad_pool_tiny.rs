//! `xlqa_eval::retrieval` (the XQuAD-pool R^L / R^multi / R^para tables of
//! docs/RESULTS.md) on a pool small enough to score by hand, cross-checked
//! against `xlqa_eval::openeval` on the same engine rankings.
//!
//! The pool: two paragraphs (T: a tower, B: a bridge) in English and
//! German, one question each, XQuAD-style (the parallel questions share
//! their id). Rows of the index (paragraphs in file order, languages in
//! code order): 0 = T.de, 1 = B.de, 2 = T.en, 3 = B.en.
//!
//! Answers: T → "1350" in both languages; B → "steel" / "Stahl". B.en also
//! holds the string "1350" (a length), a passage of the wrong paragraph
//! holding a tower answer (with the pinned rankings it never comes before a
//! tower paragraph, so it does not move a number; a ranking change that puts
//! it first would move R^L/R^multi but not R^para, and fail here). `evaluate_xquad_open` retrieves k = 20 from a depth
//! of 100, more than the pool, so every passage a retriever returns is in
//! the top 20; only rank 1 and the top 5 (all of the pool but one) depend
//! on the order. The rankings are asserted first (they come from the real
//! encoder and BM25; a change there fails here, with the lists shown), and
//! every metric below is computed by hand from them.

use std::collections::HashMap;
use std::sync::OnceLock;

use xlqa_core::{Lang, Passage, StageTimings};
use xlqa_data::gold::{read_gold, GoldFormat, GoldOptions, GoldPurpose};
use xlqa_eval::openeval::{self, EvalInput, EvalOptions, Judgments};
use xlqa_eval::retrieval::{evaluate_xquad_open, write_xquad_collection, XquadOpenOptions};
use xlqa_models::ModelHome;
use xlqa_search::{
    EncoderChoice, Engine, EngineBuilder, IndexOptions, RetrieveOptions, RetrieverChoice,
};

fn lang(s: &str) -> Lang {
    Lang::parse(s).unwrap()
}

/// One SQuAD paragraph with one question (answer_start in characters).
fn para(title: &str, context: &str, id: &str, question: &str, answer: &str) -> serde_json::Value {
    let byte = context.find(answer).expect("answer in context");
    let start = context[..byte].chars().count();
    serde_json::json!({"title": title, "paragraphs": [{"context": context, "qas": [{
        "id": id, "question": question,
        "answers": [{"text": answer, "answer_start": start}]}]}]})
}

const EN: [(&str, &str, &str, &str, &str); 2] = [
    ("Old_Tower", "The old tower of the town was built in 1350 by the mason Johann Weber and restored in 1920.", "tower", "In which year was the old tower of the town built?", "1350"),
    ("Harbour_Bridge", "The harbour bridge is 1350 metres long. It is made of steel and carries eight lanes of traffic across the bay.", "bridge", "What material is the harbour bridge made of?", "steel"),
];
const DE: [(&str, &str, &str, &str, &str); 2] = [
    ("Old_Tower", "Der alte Turm der Stadt wurde 1350 vom Baumeister Johann Weber errichtet und 1920 restauriert.", "tower", "In welchem Jahr wurde der alte Turm der Stadt errichtet?", "1350"),
    ("Harbour_Bridge", "Die Hafenbrücke über die Bucht ist aus Stahl gebaut. Sie trägt acht Fahrspuren und wurde nach langer Planung für den wachsenden Verkehr der Stadt eröffnet.", "bridge", "Aus welchem Material ist die Hafenbrücke gebaut?", "Stahl"),
];

struct Setup {
    _tmp: tempfile::TempDir,
    xquad: std::path::PathBuf,
    engine: Engine,
}

fn setup() -> &'static Setup {
    static S: OnceLock<Setup> = OnceLock::new();
    S.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let xquad = tmp.path().join("xquad");
        std::fs::create_dir(&xquad).unwrap();
        for (code, paras) in [("en", EN), ("de", DE)] {
            let data: Vec<_> = paras
                .iter()
                .map(|p| para(p.0, p.1, p.2, p.3, p.4))
                .collect();
            let f = serde_json::json!({"version": "1.1", "data": data});
            std::fs::write(xquad.join(format!("xquad.{code}.json")), f.to_string()).unwrap();
        }
        let coll = tmp.path().join("pool.jsonl");
        assert_eq!(write_xquad_collection(&xquad, &coll).unwrap(), 4);
        let (docs, _) = xlqa_core::read_collection(&coll, &Default::default()).unwrap();
        let home = ModelHome::from_env().unwrap();
        let enc = xlqa_search::builder::load_encoder(&home, &EncoderChoice::default()).unwrap();
        let langid = xlqa_search::builder::load_langid(&home).unwrap();
        let idx = tmp.path().join("idx");
        let opts = IndexOptions {
            progress: false,
            ..IndexOptions::default()
        };
        xlqa_search::build_index(docs, &enc, &langid, &idx, &opts).unwrap();
        let engine = EngineBuilder::new(&idx).home(home).build().unwrap();
        Setup {
            _tmp: tmp,
            xquad,
            engine,
        }
    })
}

/// Short names of the rows: "T.de", "B.en", …
fn name(p: &Passage) -> String {
    let t = if p.doc_id.ends_with(".000") { "T" } else { "B" };
    format!("{t}.{}", p.lang)
}

fn options(retriever: &RetrieverChoice, own_removed: Option<&Lang>) -> RetrieveOptions {
    RetrieveOptions {
        retriever: retriever.clone(),
        k: 20,
        depth: 100,
        exclude_langs: own_removed.into_iter().cloned().collect(),
        ..RetrieveOptions::default()
    }
}

const RETRIEVERS: [&str; 3] = ["bm25", "dense", "hybrid"];

fn choice(r: &str) -> RetrieverChoice {
    r.parse().unwrap()
}

/// "retriever setting lang:id = ranked rows" for every question, as
/// `evaluate_xquad_open` retrieves them (k 20, depth 100).
fn rankings() -> Vec<String> {
    let s = setup();
    let names: Vec<String> = s.engine.index().store.iter().map(name).collect();
    let questions = [
        ("en", "tower", EN[0].3),
        ("en", "bridge", EN[1].3),
        ("de", "tower", DE[0].3),
        ("de", "bridge", DE[1].3),
    ];
    let texts: Vec<&str> = questions.iter().map(|q| q.2).collect();
    let embs = s.engine.corpus().embed_questions(&texts).unwrap();
    let mut out = Vec::new();
    for r in RETRIEVERS {
        for removed in [false, true] {
            for ((l, id, q), emb) in questions.iter().zip(&embs) {
                let l = lang(l);
                let o = options(&choice(r), removed.then_some(&l));
                let (hits, _) = s
                    .engine
                    .retrieve(q, &l, Some(emb), &o, &mut StageTimings::default())
                    .unwrap();
                let list: Vec<&str> = hits
                    .iter()
                    .map(|h| names[h.passage as usize].as_str())
                    .collect();
                let setting = if removed { "own-removed" } else { "all" };
                out.push(format!("{r} {setting} {l}:{id} = {}", list.join(" ")));
            }
        }
    }
    out
}

fn report() -> &'static xlqa_eval::retrieval::XquadOpenReport {
    static R: OnceLock<xlqa_eval::retrieval::XquadOpenReport> = OnceLock::new();
    R.get_or_init(|| {
        let s = setup();
        let opts = XquadOpenOptions {
            limit_per_lang: None,
            reader_sample: 0,
            progress: false,
        };
        evaluate_xquad_open(&s.engine, &s.xquad, &opts).unwrap()
    })
}

/// The run of `retriever` in `setting` ("all" / "own-language-removed").
fn run<'a>(
    rep: &'a xlqa_eval::retrieval::XquadOpenReport,
    retriever: &str,
    setting: &str,
) -> &'a xlqa_eval::retrieval::RunReport {
    rep.runs
        .iter()
        .find(|r| r.retriever == retriever && r.setting == setting)
        .unwrap()
}

#[test]
fn rankings_then_hand_computed_tables() {
    let names: Vec<String> = setup().engine.index().store.iter().map(name).collect();
    assert_eq!(names, ["T.de", "B.de", "T.en", "B.en"]);
    assert_eq!(
        rankings(),
        PINNED,
        "the rankings the hand computation starts from"
    );
    // By hand from PINNED (the pool has 4 passages, so @5 = @20 = "in the
    // list"; a value is the share of the language's one question, or the
    // mean over en and de for the average):
    // - whole pool, every retriever: each question's own paragraph is
    //   first; it holds the answer, so R^L, R^multi and R^para are 1 at
    //   every k.
    // - bm25, own language removed: en:tower → T.de holds "1350" (R^L,
    //   R^multi, R^para 1); en:bridge → B.de holds "Stahl" but not "steel"
    //   (R^L 0; R^multi, R^para 1); de:tower → T.en (all 1); de:bridge →
    //   nothing (BM25 finds no German term in English text: all 0). So en:
    //   R^L .5, R^multi 1, R^para 1; de: .5, .5, .5.
    // - dense and hybrid, own language removed: as bm25 for the tower
    //   questions and en:bridge; de:bridge → B.en holds "steel" (R^multi,
    //   R^para 1) but not "Stahl" (R^L 0). So en and de: R^L .5, R^multi 1,
    //   R^para 1.
    let rep = report();
    let ones = [1.0; 3];
    let half = [0.5; 3];
    // per language: R^L, R^multi, R^para at k = 1, 5, 20
    type Rows = [[f64; 3]; 3];
    let expected: [(&str, &str, Rows, Rows); 6] = [
        ("bm25", "all", [ones, ones, ones], [ones, ones, ones]),
        ("dense", "all", [ones, ones, ones], [ones, ones, ones]),
        ("hybrid", "all", [ones, ones, ones], [ones, ones, ones]),
        (
            "bm25",
            "own-language-removed",
            [half, ones, ones],
            [half, half, half],
        ),
        (
            "dense",
            "own-language-removed",
            [half, ones, ones],
            [half, ones, ones],
        ),
        (
            "hybrid",
            "own-language-removed",
            [half, ones, ones],
            [half, ones, ones],
        ),
    ];
    for (retriever, setting, en, de) in expected {
        let r = run(rep, retriever, setting);
        for (l, want) in [("en", en), ("de", de)] {
            let row = &r.per_lang[l];
            let what = format!("{retriever} {setting} {l}");
            assert_eq!(row.r_l, want[0], "R^L {what}");
            assert_eq!(row.r_multi, want[1], "R^multi {what}");
            assert_eq!(row.r_para, want[2], "R^para {what}");
        }
        // the average is the mean over the two languages
        let mean = |a: [f64; 3], b: [f64; 3]| [0, 1, 2].map(|i| (a[i] + b[i]) / 2.0);
        assert_eq!(r.average.r_l, mean(en[0], de[0]), "{retriever} {setting}");
        assert_eq!(
            r.average.r_multi,
            mean(en[1], de[1]),
            "{retriever} {setting}"
        );
        assert_eq!(
            r.average.r_para,
            mean(en[2], de[2]),
            "{retriever} {setting}"
        );
    }
}

/// openeval on the same tiny pool and the same engine rankings: R^multi is
/// the same quantity in both modules (the answers are whole words, so
/// openeval's word match and retrieval's substring match agree); R^para in
/// the own-language-removed setting is openeval's Recall@k with the
/// parallel paragraph (the only relevant document left in the pool) judged
/// relevant; R^L differs by definition (openeval counts only passages in
/// the question's language, retrieval any passage holding the answer
/// string of the question's language, as docs/RESULTS.md says).
#[test]
fn same_quantities_as_openeval_on_the_same_rankings() {
    let s = setup();
    let rep = report();
    let gold = read_gold(
        &s.xquad,
        &GoldOptions {
            purpose: GoldPurpose::Passages,
            format: GoldFormat::Xquad,
            lang: None,
            answers_lang: None,
        },
    )
    .unwrap();
    assert_eq!(gold.items.len(), 4);
    // a copy: each retrieval below read-locks the engine's index
    let owned: Vec<Passage> = s.engine.index().store.iter().cloned().collect();
    let passages: Vec<&Passage> = owned.iter().collect();
    // judged relevant: the question's paragraph in the other language
    let judgments: HashMap<String, Judgments> = gold
        .items
        .iter()
        .map(|it| {
            let other = if it.lang.as_str() == "en" { "de" } else { "en" };
            let n = if it.id == "tower" { 0 } else { 1 };
            let doc = format!("xquad.{other}.{n:03}");
            let j = Judgments {
                document_level: true,
                grades: HashMap::from([(doc, 1)]),
                relevant_grades: vec![1],
                unknown: 0,
            };
            (it.qid.clone(), j)
        })
        .collect();
    let eval_opts = EvalOptions {
        ks: xlqa_eval::retrieval::KS.to_vec(),
        budgets: vec![],
        cut: 10,
    };
    let mut compared = 0;
    for r in RETRIEVERS {
        for (removed, setting) in [(false, "all"), (true, "own-language-removed")] {
            let rankings = openeval::retrieve_all(
                &s.engine,
                &gold.items,
                &options(&choice(r), None),
                removed,
                None,
                &|_, _| {},
            )
            .unwrap();
            let input = EvalInput {
                items: &gold.items,
                passages: &passages,
                rankings: &rankings,
                judgments: Some(&judgments),
            };
            let (oe, _) = openeval::evaluate(&input, &eval_opts).unwrap();
            let xr = run(rep, r, setting);
            for l in ["en", "de"] {
                let row = &xr.per_lang[l];
                let cell = |m: &str| oe.per_lang[l][m].mean;
                for (ki, k) in xlqa_eval::retrieval::KS.iter().enumerate() {
                    let what = format!("{r} {setting} {l} @{k}");
                    assert_eq!(
                        row.r_multi[ki],
                        cell(&format!("R^multi@{k}")),
                        "R^multi {what}"
                    );
                    if removed {
                        assert_eq!(
                            row.r_para[ki],
                            cell(&format!("Recall@{k}")),
                            "R^para {what}"
                        );
                        // no passage of the question's language is left
                        assert_eq!(cell(&format!("R^L@{k}")), 0.0, "openeval R^L {what}");
                    }
                    compared += 1;
                }
            }
            let macro_multi: f64 = oe.macro_avg["R^multi@20"];
            assert_eq!(xr.average.r_multi[2], macro_multi, "{r} {setting} macro");
        }
    }
    assert_eq!(compared, 3 * 2 * 2 * 3);
    // R^L, the documented difference: with the own language removed,
    // retrieval still counts a foreign passage holding "1350" for the
    // tower questions (openeval: 0, asserted above)
    let dense_removed = run(rep, "dense", "own-language-removed");
    assert!(dense_removed.per_lang["de"].r_l[2] > 0.0);
}

const PINNED: [&str; 24] = [
    "bm25 all en:tower = T.en B.en T.de",
    "bm25 all en:bridge = B.en B.de T.en",
    "bm25 all de:tower = T.de T.en B.de",
    "bm25 all de:bridge = B.de",
    "bm25 own-removed en:tower = T.de",
    "bm25 own-removed en:bridge = B.de",
    "bm25 own-removed de:tower = T.en",
    "bm25 own-removed de:bridge = ",
    "dense all en:tower = T.en T.de B.en B.de",
    "dense all en:bridge = B.en B.de T.en T.de",
    "dense all de:tower = T.de T.en B.de B.en",
    "dense all de:bridge = B.de B.en T.de T.en",
    "dense own-removed en:tower = T.de B.de",
    "dense own-removed en:bridge = B.de T.de",
    "dense own-removed de:tower = T.en B.en",
    "dense own-removed de:bridge = B.en T.en",
    "hybrid all en:tower = T.en T.de B.en B.de",
    "hybrid all en:bridge = B.en B.de T.en T.de",
    "hybrid all de:tower = T.de T.en B.de B.en",
    "hybrid all de:bridge = B.de B.en T.de T.en",
    "hybrid own-removed en:tower = T.de B.de",
    "hybrid own-removed en:bridge = B.de T.de",
    "hybrid own-removed de:tower = T.en B.en",
    "hybrid own-removed de:bridge = B.en T.en",
];
