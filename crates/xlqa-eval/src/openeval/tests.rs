//! Hand-computed cases for every metric and strict qrels/run errors (the
//! gold loaders are tested in `xlqa_data::gold::passages`).

use super::matching::{Matcher, TextWords};
use super::metrics::{budget_cut, hit_at, ir_scores};
use super::report::{evaluate, EvalInput, EvalOptions};
use super::trec::{read_qrels, read_run, resolve_qrels, resolve_run};
use super::OpenEvalError;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use xlqa_core::{Lang, LangSource, Passage};
use xlqa_data::gold::GoldItem;
use xlqa_text::analyze::Analyzer;

fn l(s: &str) -> Lang {
    Lang::parse(s).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn tmp(name: &str, content: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("xlqa-openeval-{}-{name}", std::process::id()));
    std::fs::write(&p, content).unwrap();
    p
}

fn passage(id: &str, doc: &str, lang: &str, text: &str) -> Passage {
    Passage {
        id: id.into(),
        doc_id: doc.into(),
        title: String::new(),
        text: text.into(),
        lang: l(lang),
        lang_source: LangSource::Given,
        n_tokens: 0,
        group: None,
    }
}

fn item(id: &str, qid: &str, lang: &str, alang: &str, par: &[(&str, &[&str])]) -> GoldItem {
    let parallel: BTreeMap<Lang, Vec<String>> = par
        .iter()
        .map(|(k, v)| (l(k), v.iter().map(|s| s.to_string()).collect()))
        .collect();
    GoldItem {
        id: id.into(),
        qid: qid.into(),
        lang: l(lang),
        label: lang.into(),
        question: format!("question {id}"),
        answers: parallel.get(&l(alang)).cloned().unwrap_or_default(),
        answers_lang: l(alang),
        parallel,
    }
}

// ---- Recall / nDCG / MRR -------------------------------------------------

#[test]
fn graded_ndcg_recall_mrr_with_several_relevant() {
    // ranks: 1 → a (rel 2), 2 → unjudged, 3 → b (rel 1); c (rel 3) never retrieved.
    let judged = [Some(("a", 2)), None, Some(("b", 1))];
    let s = ir_scores(&judged, &[2, 1, 3], &[1, 2, 3], 10).unwrap();
    // Recall@1 = 1/3, @2 = 1/3, @3 = 2/3
    assert!(close(s.recall[0], 1.0 / 3.0) && close(s.recall[1], 1.0 / 3.0));
    assert!(close(s.recall[2], 2.0 / 3.0));
    // DCG = 2/log2(2) + 1/log2(4) = 2.5; IDCG = 3 + 2/log2(3) + 1/log2(4) = 4.7618595
    // nDCG = 0.5250049893849101
    assert!(
        (s.ndcg - 0.525_004_989_384_910_1).abs() < 1e-12,
        "{}",
        s.ndcg
    );
    assert!(close(s.mrr, 1.0));
}

#[test]
fn document_level_counts_a_document_once_at_its_best_rank() {
    // passages of d1 at ranks 2 and 3, d2 at rank 4; three relevant documents (rel 1)
    let judged = [None, Some(("d1", 1)), Some(("d1", 1)), Some(("d2", 1))];
    let s = ir_scores(&judged, &[1, 1, 1], &[3, 4], 10).unwrap();
    // Recall@3 = 1/3 (d1 once), Recall@4 = 2/3
    assert!(close(s.recall[0], 1.0 / 3.0) && close(s.recall[1], 2.0 / 3.0));
    // DCG = 1/log2(3) + 0 + 1/log2(5) = 1.0616; IDCG = 1 + 1/log2(3) + 1/log2(4) = 2.1309
    // nDCG = 0.49818925746641285; MRR = 1/2
    assert!(
        (s.ndcg - 0.498_189_257_466_412_85).abs() < 1e-12,
        "{}",
        s.ndcg
    );
    assert!(close(s.mrr, 0.5));
}

#[test]
fn zero_relevant_is_undefined_and_cutoffs_apply() {
    assert!(ir_scores(&[Some(("a", 0))], &[], &[1], 10).is_none());
    assert!(ir_scores(&[Some(("a", 0))], &[0, -1], &[1], 10).is_none());
    // the only relevant passage at rank 11: nothing @10, found @20
    let mut judged = vec![None; 10];
    judged.push(Some(("x", 1)));
    let s = ir_scores(&judged, &[1], &[10, 20], 10).unwrap();
    assert_eq!(s.recall, vec![0.0, 1.0]);
    assert_eq!((s.ndcg, s.mrr), (0.0, 0.0));
    // a negative grade gains nothing
    let s = ir_scores(&[Some(("n", -1)), Some(("y", 1))], &[1], &[1], 10).unwrap();
    assert_eq!(s.recall, vec![0.0]);
    assert!(close(s.mrr, 0.5));
}

#[test]
fn hit_at_and_budget_cut() {
    assert_eq!(hit_at(Some(0), 1), 1.0);
    assert_eq!(hit_at(Some(1), 1), 0.0);
    assert_eq!(hit_at(None, 100), 0.0);
    // passages of 3, 4, 5 tokens
    assert_eq!(budget_cut(&[3, 4, 5], 7), vec![3, 4]); // exactly at a passage boundary
    assert_eq!(budget_cut(&[3, 4, 5], 8), vec![3, 4, 1]);
    assert_eq!(budget_cut(&[3, 4, 5], 2), vec![2]);
    assert_eq!(budget_cut(&[3, 4, 5], 20), vec![3, 4, 5]);
}

// ---- answer matching -------------------------------------------------------

#[test]
fn token_match_respects_word_boundaries_and_budget() {
    let en = l("en");
    let mut m = Matcher::default();
    let t = m.text("The Eiffel Tower, in Paris.", &en);
    assert_eq!(t.budget_tokens(), 5);
    assert_eq!(t.words_within(3), 3); // the eiffel tower
    assert!(!m.any_within(&t, &en, &["Paris"], t.words_within(4)));
    assert!(m.any_within(&t, &en, &["paris"], t.words_within(5)));
    assert!(m.any_within(&t, &en, &["eiffel  TOWER"], usize::MAX));
    assert!(!m.any_within(&t, &en, &["Eiffel Paris"], usize::MAX));
    let t = m.text("A Parisian café.", &en);
    assert!(!m.any_within(&t, &en, &["Paris"], usize::MAX));
    // apostrophes split words: a Turkish suffix, a French elided article
    let tr = l("tr");
    let t = m.text("Denver Broncos'u yendi.", &tr);
    assert!(m.any_within(&t, &tr, &["Denver Broncos"], usize::MAX));
    let fr = l("fr");
    let t = m.text("Il étudie à l’université de Paris.", &fr);
    assert!(m.any_within(&t, &fr, &["université de Paris"], usize::MAX));
    // punctuation-only answers match nothing
    assert!(!m.any_within(&t, &en, &["..."], usize::MAX));
}

#[test]
fn cjk_matching_ignores_segmentation() {
    let zh = l("zh");
    let mut m = Matcher::default();
    let t = m.text("北京市是中华人民共和国的首都。", &zh);
    assert!(m.any_within(&t, &zh, &["北京"], usize::MAX));
    assert!(m.any_within(&t, &zh, &["首都"], usize::MAX));
    assert!(!m.any_within(&t, &zh, &["上海"], usize::MAX));
    // budget tokens of a no-space language are words
    assert_eq!(t.budget_tokens(), t.words.len());
    let ja = l("ja");
    let t = m.text("東京都は日本の首都です。", &ja);
    assert!(m.any_within(&t, &ja, &["東京"], usize::MAX));
    assert!(!m.any_within(&t, &ja, &["大阪"], usize::MAX));
    let th = l("th");
    let t = m.text("กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย", &th);
    assert!(m.any_within(&t, &th, &["ประเทศไทย"], usize::MAX));
    // NFKC: full-width digits match ASCII
    let t = m.text("長城全長約８８５１公里", &zh);
    assert!(m.any_within(&t, &zh, &["8851"], usize::MAX));
    let _ = TextWords::new(&Analyzer::for_lang(&zh), "", &zh);
}

// ---- evaluate() end to end on a tiny pool ----------------------------------

fn pool() -> Vec<Passage> {
    vec![
        passage("en1#0", "en1", "en", "The capital of Germany is Berlin."),
        passage(
            "de1#0",
            "de1",
            "de",
            "Die Hauptstadt Deutschlands ist Berlin.",
        ),
        passage("de2#0", "de2", "de", "Berlin hat viele Museen."),
        passage(
            "zh1#0",
            "zh1",
            "zh",
            "北京市是中华人民共和国的首都，也是全国的政治中心和文化中心。",
        ),
    ]
}

#[test]
fn answer_recall_rl_vs_rmulti_budgets_and_averages() {
    let ps = pool();
    let refs: Vec<&Passage> = ps.iter().collect();
    let items = vec![
        item(
            "1",
            "de:1",
            "de",
            "de",
            &[("de", &["Berlin"]), ("en", &["Berlin"])],
        ),
        item(
            "1",
            "en:1",
            "en",
            "en",
            &[("de", &["Berlin"]), ("en", &["Berlin"])],
        ),
        // XOR-style: Japanese question, English answers
        item("2", "2", "ja", "en", &[("en", &["Berlin", "yes"])]),
        item("3", "3", "zh", "zh", &[("zh", &["北京"])]),
        item("4", "4", "de", "de", &[("de", &["yes"])]),
        item("5", "5", "de", "de", &[("de", &["Museen"])]),
    ];
    let rankings: HashMap<String, Vec<usize>> = [
        ("de:1", vec![0, 1]),
        ("en:1", vec![1, 0]),
        ("2", vec![1, 0]),
        ("3", vec![3]),
        ("4", vec![1]),
        ("5", vec![2]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let opts = EvalOptions {
        ks: vec![1, 2],
        budgets: vec![4, 5],
        cut: 10,
    };
    let input = EvalInput {
        items: &items,
        passages: &refs,
        rankings: &rankings,
        judgments: None,
    };
    let (rep, per_q) = evaluate(&input, &opts).unwrap();
    let q = |qid: &str| &per_q.iter().find(|q| q.qid == qid).unwrap().metrics;
    // de:1 — rank 1 is English: R^L@1 = 0, R^L@2 = 1; R^multi@1 = 1 (English answer in English passage)
    assert_eq!(q("de:1")["R^L@1"], 0.0);
    assert_eq!(q("de:1")["R^L@2"], 1.0);
    assert_eq!(q("de:1")["R^multi@1"], 1.0);
    // its R@kt: the English passage has 6 tokens, "Berlin." is the 6th → 0 at 4 and 5
    assert_eq!(q("de:1")["R@4t"], 0.0);
    assert_eq!(q("de:1")["R@5t"], 0.0);
    // en:1 — R^L@1 = 0 (German first), R^multi@1 = 1 (German answer in German passage)
    assert_eq!(q("en:1")["R^L@1"], 0.0);
    assert_eq!(q("en:1")["R^multi@1"], 1.0);
    // the German passage has 5 tokens, "Berlin." is the 5th: 0 at 4, 1 at exactly 5
    assert_eq!(q("en:1")["R@4t"], 0.0);
    assert_eq!(q("en:1")["R@5t"], 1.0);
    // 2 — no Japanese answer: no R^L; the German passage cannot count for R^multi
    // (no German answers), the English one at rank 2 does
    assert!(!q("2").contains_key("R^L@1"));
    assert_eq!(q("2")["R^multi@1"], 0.0);
    assert_eq!(q("2")["R^multi@2"], 1.0);
    // R@kt uses the (English) answers in any passage: "Berlin" is the 5th token of the German one
    assert_eq!(q("2")["R@4t"], 0.0);
    assert_eq!(q("2")["R@5t"], 1.0);
    // 3 — Chinese substring inside a longer word
    assert_eq!(q("3")["R^L@1"], 1.0);
    assert_eq!(q("3")["R@4t"], 1.0);
    // 4 — yes/no only: excluded from every answer metric
    assert!(q("4").is_empty());
    // 5 — 4-token passage: found with both budgets; short of the 5-token budget
    assert_eq!(q("5")["R^L@1"], 1.0);
    assert_eq!(q("5")["R@4t"], 1.0);
    assert_eq!(q("5")["R@5t"], 1.0);

    // R^multi@1: de = mean(1, 1) = 1 (n 2), en = 1, ja = 0, zh = 1
    // macro = (1 + 1 + 0 + 1) / 4 = 0.75; micro = 4 / 5 = 0.8
    assert_eq!(rep.per_lang["de"]["R^multi@1"].n, 2);
    assert!(close(rep.macro_avg["R^multi@1"], 0.75));
    assert!(close(rep.micro["R^multi@1"].mean, 0.8));
    // R@4t: de = mean(0, 1) = 0.5, en = 0, ja = 0, zh = 1 → macro 0.375, micro 2/5
    assert!(close(rep.macro_avg["R@4t"], 0.375));
    assert!(close(rep.micro["R@4t"].mean, 0.4));
    // R^L@1: de = mean(0, 1) = 0.5, en = 0, zh = 1 (ja undefined) → macro 0.5, micro 2/4
    assert!(close(rep.macro_avg["R^L@1"], 0.5));
    assert_eq!(rep.micro["R^L@1"].n, 4);
    assert_eq!(rep.excluded["R^L: no answer in the question's language"], 2);
    assert_eq!(
        rep.excluded["R@kt: no answer (yes/no answers are skipped)"],
        1
    );
    assert_eq!(rep.short_of_budget["R@5t"], 1);
    assert!(!rep.metrics.iter().any(|m| m.starts_with("Recall")));
    assert!(rep.to_markdown().contains("| **macro** |"));
}

#[test]
fn qrels_passage_and_document_level_through_evaluate() {
    let ps = pool();
    let refs: Vec<&Passage> = ps.iter().collect();
    let qrels = tmp(
        "q1.qrels",
        "de:1 0 de1 1\nen:1 0 en1#0 2\nen:1 0 de1#0 0\n2 0 not-in-index 1\n3 0 zh1#0 0\n",
    );
    let q = read_qrels(&qrels).unwrap();
    let (j, unknown) = resolve_qrels(&q, &refs).unwrap();
    assert_eq!(unknown, 1);
    assert!(j["de:1"].document_level && !j["en:1"].document_level);
    let items = vec![
        item("1", "de:1", "de", "de", &[]),
        item("1", "en:1", "en", "en", &[]),
        item("2", "2", "ja", "ja", &[]),
        item("3", "3", "zh", "zh", &[]),
        item("9", "9", "zh", "zh", &[]),
    ];
    let rankings: HashMap<String, Vec<usize>> = [
        ("de:1", vec![0, 1]),
        ("en:1", vec![1, 0]),
        ("2", vec![1]),
        ("3", vec![3]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let (rep, per_q) = evaluate(
        &EvalInput {
            items: &items,
            passages: &refs,
            rankings: &rankings,
            judgments: Some(&j),
        },
        &EvalOptions {
            ks: vec![1, 2],
            budgets: vec![],
            cut: 10,
        },
    )
    .unwrap();
    let m = |qid: &str| &per_q.iter().find(|q| q.qid == qid).unwrap().metrics;
    // de:1 — document de1 at rank 2: Recall@1 0, @2 1; nDCG = (1/log2 3)/1; MRR 1/2
    assert_eq!(m("de:1")["Recall@1"], 0.0);
    assert_eq!(m("de:1")["Recall@2"], 1.0);
    assert!(close(m("de:1")["nDCG@10"], 1.0 / 3f64.log2()));
    assert!(close(m("de:1")["MRR@10"], 0.5));
    // en:1 — rel 2 at rank 2, rel 0 at rank 1: nDCG = (2/log2 3)/2
    assert!(close(m("en:1")["nDCG@10"], 1.0 / 3f64.log2()));
    // 2 — its only relevant document is not in the index: everything 0
    assert_eq!(m("2")["Recall@2"], 0.0);
    assert_eq!(m("2")["nDCG@10"], 0.0);
    // 3 — judged non-relevant only; 9 — not in the qrels: both excluded
    assert!(m("3").is_empty() && m("9").is_empty());
    assert_eq!(rep.micro["Recall@2"].n, 3);
    // Recall@2 per language: de 1, en 1, ja 0 → macro 2/3
    assert!(close(rep.macro_avg["Recall@2"], 2.0 / 3.0));
    assert_eq!(rep.questions_without_ranking, 1);
    assert!(rep.notes.iter().any(|n| n.contains("no answers")));
}

#[test]
fn qrels_errors_are_strict() {
    let ps = pool();
    let refs: Vec<&Passage> = ps.iter().collect();
    let bad = tmp("bad-cols.qrels", "q1 0 d1 1\nq1 0 d2\n");
    let e = read_qrels(&bad).unwrap_err().to_string();
    assert!(
        e.contains("bad-cols.qrels:2") && e.contains("4 columns"),
        "{e}"
    );
    let bad = tmp("bad-rel.qrels", "q1 0 d1 high\n");
    let e = read_qrels(&bad).unwrap_err().to_string();
    assert!(e.contains(":1:") && e.contains("rel"), "{e}");
    let bad = tmp("dup.qrels", "q1 0 d1 1\nq1 0 d1 2\n");
    assert!(read_qrels(&bad).unwrap_err().to_string().contains("twice"));
    let mixed = tmp("mixed.qrels", "q1 0 de1 1\nq1 0 en1#0 1\n");
    let e = resolve_qrels(&read_qrels(&mixed).unwrap(), &refs)
        .unwrap_err()
        .to_string();
    assert!(e.contains("mixes"), "{e}");
    let foreign = tmp("foreign.qrels", "q1 0 x 1\nq2 0 y 1\n");
    let e = resolve_qrels(&read_qrels(&foreign).unwrap(), &refs).unwrap_err();
    assert!(matches!(e, OpenEvalError::Mismatch(_)));
}

#[test]
fn run_files_sort_like_trec_eval_and_are_strict() {
    let ps = pool();
    let refs: Vec<&Passage> = ps.iter().collect();
    // a tie at score 1.0 between en1#0 and de1#0: docno descending → en1#0 first
    let run = tmp(
        "ties.run",
        "q Q0 de1#0 1 1.0 t\nq Q0 en1#0 2 1.0 t\nq Q0 zh1#0 3 2.5 t\n",
    );
    let r = read_run(&run).unwrap();
    let rows = resolve_run(&r, &refs).unwrap();
    assert_eq!(rows["q"], vec![3, 0, 1]);
    let bad = tmp("cols.run", "q Q0 de1#0 1 1.0\n");
    let e = read_run(&bad).unwrap_err().to_string();
    assert!(e.contains("cols.run:1") && e.contains("6 columns"), "{e}");
    let bad = tmp("score.run", "q Q0 de1#0 1 NaN t\n");
    assert!(read_run(&bad).unwrap_err().to_string().contains("score"));
    let unknown = tmp("unknown.run", "q Q0 de1#0 1 1 t\nq Q0 nope#0 2 0.5 t\n");
    let e = resolve_run(&read_run(&unknown).unwrap(), &refs)
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown.run:2") && e.contains("nope#0"), "{e}");
}
