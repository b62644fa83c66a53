//! LAReQA on a small parallel slice of the real XQuAD-R (first article of
//! en, de and zh; zh has touching sentence spans), checked against values
//! computed here independently: correctness labels straight from the raw
//! JSON, scores from plain dot products, AP by sorting the pool and walking
//! it block by block (scikit-learn's `average_precision_score` convention).
//!
//! Run: `cargo test --release -p xlqa-eval --test lareqa_real -- --nocapture`

use std::collections::BTreeMap;

use serde_json::Value;
use xlqa_data::lareqa::{read_lareqa_dir, LoadOptions};
use xlqa_eval::lareqa::{
    self, report::RunInfo, CandidateMode, DebiasFit, LareqaReport, Pool, PoolScorer,
    RetrieverScorer,
};
use xlqa_index::DebiasMethod;
use xlqa_models::{EmbeddingCache, Encoder, EncoderOptions, ModelHome, TextKind};
use xlqa_search::RetrieverChoice;

const LANGS: [&str; 3] = ["de", "en", "zh"];

/// (lang, sentence, set of question ids it answers) and (lang, id, question).
type Cands = Vec<(String, String, Vec<String>)>;
type Qs = Vec<(String, String, String)>;

fn read_slice(dir: &std::path::Path) -> (Cands, Qs) {
    let mut cands = Vec::new();
    let mut qs = Vec::new();
    for l in LANGS {
        let v: Value =
            serde_json::from_slice(&std::fs::read(dir.join(format!("{l}.json"))).unwrap()).unwrap();
        let art = &v["data"][0];
        for p in art["paragraphs"].as_array().unwrap() {
            let sents = p["sentences"].as_array().unwrap();
            let breaks = p["sentence_breaks"].as_array().unwrap();
            let first = cands.len();
            for s in sents {
                cands.push((l.to_string(), s.as_str().unwrap().to_string(), Vec::new()));
            }
            for qa in p["qas"].as_array().unwrap() {
                let id = qa["id"].as_str().unwrap().to_string();
                let a = qa["answers"][0]["answer_start"].as_u64().unwrap();
                // the sentence whose [start, end) holds the answer start
                let i = breaks
                    .iter()
                    .position(|b| b[0].as_u64().unwrap() <= a && a < b[1].as_u64().unwrap())
                    .unwrap();
                cands[first + i].2.push(id.clone());
                qs.push((
                    l.to_string(),
                    id,
                    qa["question"].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    (cands, qs)
}

fn ap_by_sorting(scores: &[f32], pool: &[usize], rel: &[usize]) -> f64 {
    let mut p = pool.to_vec();
    p.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut seen, mut hits, mut ap, mut i) = (0usize, 0usize, 0.0, 0);
    while i < p.len() {
        let mut j = i;
        while j < p.len() && scores[p[j]] == scores[p[i]] {
            j += 1;
        }
        let r = p[i..j].iter().filter(|c| rel.contains(c)).count();
        seen += j - i;
        hits += r;
        ap += r as f64 * hits as f64 / seen as f64;
        i = j;
    }
    ap / rel.len() as f64
}

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() < 1e-9, "{what}: {a} vs independent {b}");
}

#[test]
fn lareqa_slice_matches_an_independent_computation() {
    let Some(data_dir) = xlqa_core::testdata::shared_or_skip("lareqa_real", "lareqa_xquad_r")
    else {
        return;
    };
    let dir = data_dir.join("lareqa_xquad_r");
    let (cands, qs) = read_slice(&dir);
    let langs: Vec<xlqa_core::Lang> = LANGS
        .iter()
        .map(|l| xlqa_core::Lang::parse(l).unwrap())
        .collect();
    let d = read_lareqa_dir(
        &dir,
        &LoadOptions {
            langs,
            limit_articles: Some(1),
            ..Default::default()
        },
    )
    .unwrap();
    // same pool, same order (files in code order, paragraphs, sentences)
    assert_eq!(d.candidates.len(), cands.len());
    assert_eq!(d.questions.len(), qs.len());
    for (c, (l, s, _)) in d.candidates.iter().zip(&cands) {
        assert_eq!(
            (d.langs[c.lang].as_str(), c.sentence.as_str()),
            (l.as_str(), s.as_str())
        );
    }
    eprintln!("slice: {} candidates, {} questions", cands.len(), qs.len());

    let home = ModelHome::from_env().unwrap();
    let enc = Encoder::load(&home, EncoderOptions::default()).unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let mut cache = EmbeddingCache::open(cache_dir.path(), &enc).unwrap();
    let e = lareqa::embed(&d, CandidateMode::Sentence, &enc, &mut cache, &|_, _, _| {}).unwrap();
    assert_eq!(e.stats.hits, 0);
    // the cache answers a second time, with the same vectors
    let e2 = lareqa::embed(&d, CandidateMode::Sentence, &enc, &mut cache, &|_, _, _| {}).unwrap();
    assert_eq!(
        (e2.stats.hits, e2.stats.encoded),
        (qs.len() + cands.len(), 0)
    );
    assert_eq!(e2.questions, e.questions);

    // independent embeddings and scores
    let qv = enc
        .encode(
            &qs.iter().map(|q| q.2.as_str()).collect::<Vec<_>>(),
            TextKind::Query,
        )
        .unwrap();
    let cv = enc
        .encode(
            &cands.iter().map(|c| c.1.as_str()).collect::<Vec<_>>(),
            TextKind::Passage,
        )
        .unwrap();
    let pool = Pool::build(&d, CandidateMode::Sentence, Some(&e.candidates)).unwrap();
    let scorer = RetrieverScorer::only(&pool, &d, Some(&e.questions), RetrieverChoice::dense());
    let results = lareqa::evaluate(&d, &scorer, 7, &|_, _| {}).unwrap();
    let report = LareqaReport::new(
        &d,
        &results,
        RunInfo {
            retriever: "dense".into(),
            candidate: "sentence".into(),
            rule: "contains".into(),
            encoder: None,
            settings: BTreeMap::new(),
            complete: false,
            timings_s: BTreeMap::new(),
            cache: None,
        },
    );

    let all: Vec<usize> = (0..cands.len()).collect();
    let mut sum_ap: BTreeMap<&str, (f64, f64, f64, f64, usize)> = BTreeMap::new();
    let mut pair: BTreeMap<(&str, &str), (f64, usize)> = BTreeMap::new();
    for (qi, (ql, id, _)) in qs.iter().enumerate() {
        let scores: Vec<f32> = cv
            .iter()
            .map(|c| c.iter().zip(&qv[qi]).map(|(a, b)| a * b).sum())
            .collect();
        let rel: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&c| cands[c].2.contains(id))
            .collect();
        assert_eq!(
            rel.len(),
            LANGS.len(),
            "question {id}: one answer sentence per language"
        );
        let ap = ap_by_sorting(&scores, &all, &rel);
        // reciprocal rank of the best correct candidate
        let best = rel.iter().map(|&r| scores[r]).fold(f32::MIN, f32::max);
        let rank = scores.iter().filter(|&&s| s >= best).count();
        // mono pool
        let mono: Vec<usize> = all.iter().copied().filter(|&c| &cands[c].0 == ql).collect();
        let rel_mono: Vec<usize> = rel.iter().copied().filter(|&c| &cands[c].0 == ql).collect();
        let ap_mono = ap_by_sorting(&scores, &mono, &rel_mono);
        // –same
        let pool: Vec<usize> = all
            .iter()
            .copied()
            .filter(|c| !rel_mono.contains(c))
            .collect();
        let rest: Vec<usize> = rel
            .iter()
            .copied()
            .filter(|c| !rel_mono.contains(c))
            .collect();
        let ap_same = ap_by_sorting(&scores, &pool, &rest);
        let e = sum_ap.entry(ql.as_str()).or_default();
        e.0 += ap;
        e.1 += 1.0 / rank as f64;
        e.2 += ap_mono;
        e.3 += ap_same;
        e.4 += 1;
        // limit to one target: each answer language
        for al in LANGS {
            let target: Vec<usize> = rel.iter().copied().filter(|&c| cands[c].0 == al).collect();
            let pool: Vec<usize> = all
                .iter()
                .copied()
                .filter(|c| !rel.contains(c) || target.contains(c))
                .collect();
            let p = pair.entry((ql.as_str(), al)).or_default();
            p.0 += ap_by_sorting(&scores, &pool, &target);
            p.1 += 1;
        }
        // the library's own numbers for this question
        let r = &results[qi];
        assert_eq!((&r.id, &r.lang), (id, ql));
    }
    let mut total = (0.0, 0usize);
    for (li, l) in LANGS.iter().enumerate() {
        let (ap, rr, mono, same, n) = sum_ap[l];
        let m = &report.per_lang[*l];
        assert_eq!(m.questions, n);
        // library embeddings vs independent ones may differ in the last bits
        // (batching); the rankings must agree to 1e-3 and be exact with the
        // library's own vectors (checked below)
        assert!(
            (m.map - ap / n as f64).abs() < 1e-3,
            "{l}: {} vs {}",
            m.map,
            ap / n as f64
        );
        assert!((m.mrr - rr / n as f64).abs() < 1e-3);
        assert!((m.map_mono - mono / n as f64).abs() < 1e-3);
        assert!((report.remove_one_per_lang[*l].map_minus_same - same / n as f64).abs() < 1e-3);
        for (ai, al) in LANGS.iter().enumerate() {
            let (s, k) = pair[&(*l, *al)];
            let v = report.pair_matrix[li][ai].unwrap();
            assert!(
                (v - s / k as f64).abs() < 1e-3,
                "pair {l}->{al}: {v} vs {}",
                s / k as f64
            );
        }
        total.0 += ap;
        total.1 += n;
        eprintln!("{l}: mAP {:.4} (independent {:.4})", m.map, ap / n as f64);
    }
    assert!((report.overall.map - total.0 / total.1 as f64).abs() < 1e-3);

    // exact agreement when both sides use the library's vectors
    for (qi, (_, id, _)) in qs.iter().enumerate() {
        let scores = scorer.scores(qi).unwrap();
        let rel: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&c| cands[c].2.contains(id))
            .collect();
        close(results[qi].ap, ap_by_sorting(&scores, &all, &rel), "AP");
        let top: Vec<usize> = lareqa::metrics::top_k(&scores, 100);
        let mut by_lang = vec![0u32; LANGS.len()];
        for c in top {
            by_lang[LANGS.iter().position(|l| *l == cands[c].0).unwrap()] += 1;
        }
        assert_eq!(results[qi].top100, by_lang);
    }
    // –rand removes exactly one other-language target
    for r in &results {
        let v = r.ap_minus_rand.unwrap();
        assert!(v > 0.0 && v <= 1.0);
    }
    // mAP sanity: a multilingual encoder is far better than chance on this slice
    assert!(report.overall.map > 0.3, "{}", report.overall.map);

    // De-biasing (center): each candidate is its raw vector minus its
    // language's mean, normalized; questions use their language's candidate
    // mean. It must raise mAP on this parallel slice.
    let mut ed = lareqa::Embeddings {
        questions: e.questions.clone(),
        candidates: e.candidates.clone(),
        stats: e.stats,
        seconds: 0.0,
    };
    lareqa::debias(&d, &mut ed, DebiasMethod::Center, DebiasFit::Candidates).unwrap();
    let mut means: BTreeMap<&str, (Vec<f64>, usize)> = BTreeMap::new();
    for (c, v) in cands.iter().zip(&e.candidates) {
        let m = means.entry(c.0.as_str()).or_insert((vec![0.0; v.len()], 0));
        m.0.iter_mut().zip(v).for_each(|(a, &x)| *a += x as f64);
        m.1 += 1;
    }
    let centered = |raw: &[f32], lang: &str| -> Vec<f64> {
        let (sum, n) = &means[lang];
        let x: Vec<f64> = raw
            .iter()
            .zip(sum)
            .map(|(&r, s)| r as f64 - s / *n as f64)
            .collect();
        let norm = x.iter().map(|a| a * a).sum::<f64>().sqrt();
        x.iter().map(|a| a / norm).collect()
    };
    for ((c, raw), got) in cands.iter().zip(&e.candidates).zip(&ed.candidates) {
        for (w, g) in centered(raw, &c.0).iter().zip(got) {
            assert!((w - *g as f64).abs() < 1e-5, "centered candidate");
        }
    }
    for ((q, raw), got) in qs.iter().zip(&e.questions).zip(&ed.questions) {
        for (w, g) in centered(raw, &q.0).iter().zip(got) {
            assert!((w - *g as f64).abs() < 1e-5, "centered question");
        }
    }
    let dpool = Pool::build(&d, CandidateMode::Sentence, Some(&ed.candidates)).unwrap();
    let dres = lareqa::evaluate(
        &d,
        &RetrieverScorer::only(&dpool, &d, Some(&ed.questions), RetrieverChoice::dense()),
        7,
        &|_, _| {},
    )
    .unwrap();
    let map = |r: &[lareqa::QuestionResult]| r.iter().map(|q| q.ap).sum::<f64>() / r.len() as f64;
    eprintln!("mAP raw {:.4}, centered {:.4}", map(&results), map(&dres));
    assert!(map(&dres) > map(&results) + 0.02);

    // BM25 over the same pool: exact agreement of AP with the scorer's scores,
    // and unmatched candidates share the lowest score
    let pool = Pool::build(&d, CandidateMode::Sentence, None).unwrap();
    let bm25 = RetrieverScorer::only(&pool, &d, None, RetrieverChoice::bm25());
    let bres = lareqa::evaluate(&d, &bm25, 7, &|_, _| {}).unwrap();
    for (qi, (_, id, _)) in qs.iter().enumerate() {
        let scores = bm25.scores(qi).unwrap();
        let rel: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&c| cands[c].2.contains(id))
            .collect();
        close(bres[qi].ap, ap_by_sorting(&scores, &all, &rel), "BM25 AP");
    }
    let en_q = qs.iter().position(|q| q.0 == "en").unwrap();
    let s = bm25.scores(en_q).unwrap();
    assert!(s.contains(&f32::NEG_INFINITY) && s.iter().any(|x| *x > 0.0));
}
