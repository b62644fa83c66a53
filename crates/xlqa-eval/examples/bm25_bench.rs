//! BM25: xlqa's lexical index (tantivy, one field per language, xlqa's
//! analyzers) on real multilingual text and on a scaled-up synthetic
//! collection; writes the same passages and queries for `bench/peers_lexical.py`
//! (bm25s), which runs them in the same session.
//!
//! `cargo run --release -p xlqa-eval --example bm25_bench -- OUT_DIR [N_SYNTHETIC]`
//!
//! Quality: per XQuAD language, the 240 paragraphs of that language are the
//! collection and its 1,190 questions the queries; recall@1/@10 of the gold
//! paragraph. Speed: N synthetic English passages (default 100,000) of 6
//! sentences drawn (seeded) from the English XQuAD paragraphs; indexing time
//! and single-query latency (p50/p95) of the 1,190 English questions.
//! Data: `$XLQA_DATA` or `../shared/data`. Prints JSON lines.
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use xlqa_core::{Lang, LangSource, Passage};
use xlqa_data::squad::read_squad;
use xlqa_index::lexical::LexicalIndex;
use xlqa_text::analyze::Analyzer;

const LANGS: [&str; 12] = [
    "ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh",
];

fn passage(i: usize, text: String, lang: &Lang) -> Passage {
    Passage {
        id: format!("p{i}"),
        doc_id: format!("p{i}"),
        title: String::new(),
        text,
        lang: lang.clone(),
        lang_source: LangSource::Given,
        n_tokens: 0,
        group: None,
    }
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let out = PathBuf::from(args.get(1).ok_or("usage: bm25_bench OUT_DIR [N]")?);
    let n_syn: usize = args
        .get(2)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(100_000);
    let data = std::env::var_os("XLQA_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    std::fs::create_dir_all(&out)?;
    let tmp = tempfile::tempdir()?;
    let mut english = Vec::new();
    for code in LANGS {
        let lang: Lang = code.parse()?;
        let ex = read_squad(&data.join(format!("xquad/xquad.{code}.json")), &lang)?;
        let mut paras: Vec<String> = Vec::new();
        let mut gold = Vec::new();
        for e in &ex {
            let at = match paras.iter().position(|p| p == &e.context) {
                Some(i) => i,
                None => {
                    paras.push(e.context.clone());
                    paras.len() - 1
                }
            };
            gold.push(at);
        }
        if code == "en" {
            english = ex.clone();
        }
        // files for the peer
        let mut f = std::io::BufWriter::new(std::fs::File::create(
            out.join(format!("xquad-{code}.jsonl")),
        )?);
        for p in &paras {
            writeln!(f, "{}", serde_json::json!({ "text": p }))?;
        }
        let mut f = std::io::BufWriter::new(std::fs::File::create(
            out.join(format!("xquad-{code}-queries.jsonl")),
        )?);
        for (e, g) in ex.iter().zip(&gold) {
            writeln!(f, "{}", serde_json::json!({ "q": e.question, "gold": g }))?;
        }
        let a = Analyzer::for_lang(&lang);
        let by_code: BTreeMap<String, Analyzer> = [(code.to_string(), a.clone())].into();
        let path = tmp.path().join(code);
        let passages: Vec<Passage> = paras
            .iter()
            .enumerate()
            .map(|(i, p)| passage(i, p.clone(), &lang))
            .collect();
        LexicalIndex::build(&path, &passages, &by_code, &|_| {})?;
        let idx = LexicalIndex::open(&path, &xlqa_eval::lareqa::lexical_manifest(&by_code))?;
        let (mut r1, mut r10) = (0, 0);
        for (e, &g) in ex.iter().zip(&gold) {
            let terms: Vec<String> = a.analyze(&e.question).into_iter().map(|t| t.text).collect();
            let hits = idx.search(&terms, 10, &|_| true)?;
            r1 += usize::from(hits.first().is_some_and(|h| h.passage as usize == g));
            r10 += usize::from(hits.iter().any(|h| h.passage as usize == g));
        }
        let n = ex.len() as f64;
        println!(
            "{}",
            serde_json::json!({"part": "quality", "lang": code, "analyzer": a.name(),
                "passages": paras.len(), "queries": ex.len(),
                "r1": r1 as f64 / n, "r10": r10 as f64 / n})
        );
    }
    // synthetic collection
    let en: Lang = "en".parse()?;
    let mut sentences: Vec<String> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for e in &english {
        if seen.insert(e.context.clone()) {
            sentences.extend(
                xlqa_text::sentence::split_sentences(&e.context, &en)
                    .into_iter()
                    .map(|r| e.context[r].trim().to_string()),
            );
        }
    }
    let mut state = 1u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let syn: Vec<String> = (0..n_syn)
        .map(|_| {
            (0..6)
                .map(|_| sentences[(next() % sentences.len() as u64) as usize].as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let mut f = std::io::BufWriter::new(std::fs::File::create(
        out.join(format!("synthetic-{n_syn}.jsonl")),
    )?);
    for s in &syn {
        writeln!(f, "{}", serde_json::json!({ "text": s }))?;
    }
    f.flush()?;
    let a = Analyzer::for_lang(&en);
    let by_code: BTreeMap<String, Analyzer> = [("en".to_string(), a.clone())].into();
    let passages: Vec<Passage> = syn
        .into_iter()
        .enumerate()
        .map(|(i, t)| passage(i, t, &en))
        .collect();
    let path = tmp.path().join("synthetic");
    let t = Instant::now();
    LexicalIndex::build(&path, &passages, &by_code, &|_| {})?;
    let build_s = t.elapsed().as_secs_f64();
    let idx = LexicalIndex::open(&path, &xlqa_eval::lareqa::lexical_manifest(&by_code))?;
    let mut lat = Vec::new();
    for e in &english {
        let t = Instant::now();
        let terms: Vec<String> = a.analyze(&e.question).into_iter().map(|t| t.text).collect();
        let hits = idx.search(&terms, 10, &|_| true)?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(hits);
    }
    println!(
        "{}",
        serde_json::json!({"part": "speed", "passages": n_syn, "queries": english.len(),
            "index_s": build_s, "passages_per_s": n_syn as f64 / build_s,
            "p50_ms": pct(&mut lat.clone(), 0.5), "p95_ms": pct(&mut lat, 0.95),
            "threads": rayon::current_num_threads()})
    );
    Ok(())
}
