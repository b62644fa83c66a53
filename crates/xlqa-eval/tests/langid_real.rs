//! Language identification (fastText lid.176) measured on the real data:
//! XQuAD questions and contexts (12 languages), TyDi GoldP dev questions and
//! passages (9 languages), and Tatoeba sentences in the languages the script
//! rules concern. Prints an ablation of the preprocessing and of each script
//! rule, then the per-language tables of the default configuration, and
//! asserts the XQuAD-question floor.
//!
//! Run: `cargo test --release -p xlqa-eval --test langid_real -- --nocapture`

use std::collections::BTreeSet;
use std::path::Path;

use xlqa_core::Lang;
use xlqa_data::squad::{read_tydi_goldp_dev_dir, read_xquad_dir, QaExample};
use xlqa_eval::langid_eval::{evaluate_langid, LangIdReport};
use xlqa_text::langid::{DetectOptions, LangId, ScriptRule};

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

/// Tatoeba sentences (LASER test set) of the languages whose script the rules
/// use: Mandarin, Cantonese, Wu, Japanese, Korean, Greek, Thai.
fn tatoeba_script_languages(data: &Path) -> Vec<(Lang, String)> {
    let mut out = Vec::new();
    for code in ["cmn", "yue", "wuu", "jpn", "kor", "ell", "tha"] {
        let path = data.join(format!("tatoeba_laser_v1/tatoeba.{code}-eng.{code}"));
        let text = std::fs::read_to_string(&path).unwrap();
        let lang = Lang::parse(code).unwrap();
        out.extend(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| (lang.clone(), l.to_string())),
        );
    }
    out
}

fn percent(r: &LangIdReport) -> String {
    format!(
        "{:.2} ({:.2})",
        100.0 * r.macro_accuracy,
        100.0 * r.micro_accuracy
    )
}

#[test]
fn langid_on_xquad_tydi_and_tatoeba() {
    let Some(data) = xlqa_core::testdata::shared_or_skip("langid_real", "tatoeba_laser_v1") else {
        return;
    };
    let started = std::time::Instant::now();
    let home = xlqa_models::install::ModelHome::from_env().unwrap();
    let model_path = home.ensure(&xlqa_models::install::LID_176).unwrap();
    let mut langid = LangId::load(&model_path).unwrap();
    assert_eq!(langid.model_id(), "fasttext-lid.176");

    let xquad = read_xquad_dir(&data.join("xquad")).unwrap();
    let tydi = read_tydi_goldp_dev_dir(&data.join("tydiqa_goldp_v1.1")).unwrap();
    let short_sets: Vec<(&str, Vec<(Lang, String)>)> = vec![
        ("XQuAD questions", questions(&xquad)),
        ("TyDi GoldP dev questions", questions(&tydi)),
        (
            "Tatoeba zh/yue/wuu/ja/ko/el/th",
            tatoeba_script_languages(&data),
        ),
    ];
    let long_sets: Vec<(&str, Vec<(Lang, String)>)> = vec![
        ("XQuAD contexts", contexts(&xquad)),
        ("TyDi GoldP dev passages", contexts(&tydi)),
    ];

    // Ablation on the short texts, where preprocessing and rules matter.
    let eol = DetectOptions {
        end_of_line: true,
        ..DetectOptions::raw()
    };
    let mut configs: Vec<(String, DetectOptions)> = vec![
        (
            "fastText as the crate calls it".into(),
            DetectOptions::raw(),
        ),
        ("+ end of line (`\\n`)".into(), eol.clone()),
        (
            "+ end of line + lower-case".into(),
            DetectOptions {
                lowercase: true,
                ..eol.clone()
            },
        ),
        (
            "+ end of line + split punctuation".into(),
            DetectOptions {
                split_punctuation: true,
                ..eol.clone()
            },
        ),
    ];
    for rule in ScriptRule::ALL {
        configs.push((
            format!("+ end of line + {rule} rule"),
            DetectOptions {
                script_rules: vec![rule],
                ..eol.clone()
            },
        ));
    }
    configs.push((
        "**default** (end of line + all rules)".into(),
        DetectOptions::default(),
    ));
    println!("\nMacro accuracy % (micro in parentheses)\n");
    println!(
        "| configuration | {} |",
        short_sets
            .iter()
            .map(|s| s.0)
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---|{}", "---:|".repeat(short_sets.len()));
    for (name, options) in configs {
        langid = langid.with_options(options);
        let row: Vec<String> = short_sets
            .iter()
            .map(|(_, items)| percent(&evaluate_langid(&langid, items)))
            .collect();
        println!("| {name} | {} |", row.join(" | "));
    }

    // Closed set: only the data set's own languages may be answered (as when
    // the languages of a collection are known).
    println!("\n| closed set (default + candidates = the set's languages) | macro (micro) % |\n|---|---:|");
    for (name, items) in &short_sets[..2] {
        let langs: BTreeSet<Lang> = items.iter().map(|(l, _)| l.clone()).collect();
        langid = langid.with_options(DetectOptions {
            candidates: Some(langs.into_iter().collect()),
            ..DetectOptions::default()
        });
        println!("| {name} | {} |", percent(&evaluate_langid(&langid, items)));
    }

    // Per-language tables of the default configuration.
    langid = langid.with_options(DetectOptions::default());
    let mut xquad_questions = None;
    for (name, items) in short_sets.iter().chain(&long_sets) {
        let report = evaluate_langid(&langid, items);
        println!("\n### {name} (default)\n\n{}", report.to_markdown());
        let top: Vec<String> = report
            .confusions
            .iter()
            .take(8)
            .map(|(g, d, c)| format!("{g}→{d} {c}"))
            .collect();
        println!("most frequent confusions: {}", top.join(", "));
        if *name == "XQuAD questions" {
            xquad_questions = Some(report);
        }
    }
    println!("\nelapsed {:.1} s", started.elapsed().as_secs_f64());

    let xq = xquad_questions.unwrap();
    assert_eq!(xq.per_lang.len(), 12);
    assert_eq!(xq.per_lang.iter().map(|r| r.n).sum::<usize>(), 12 * 1190);
    assert!(
        xq.macro_accuracy >= 0.97,
        "XQuAD question macro accuracy {:.4} < 0.97",
        xq.macro_accuracy
    );
}
