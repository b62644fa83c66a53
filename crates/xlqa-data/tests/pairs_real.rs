//! The training-data readers on the real shared data (`shared/DATA.md`).
//! Skipped, with a message, when the data folder is absent. Counts were
//! measured on the data (and cross-checked with an independent script for
//! the line counts and the translation join).

use std::collections::HashSet;
use std::path::PathBuf;

use xlqa_core::Lang;
use xlqa_data::pairs::{
    drop_overlapping, read_tatoeba, read_tydi_train, read_xor_translations, translation_map,
    PairKind,
};

/// The shared data folder (skip, or fail under `XLQA_REQUIRE_DATA=1`).
fn data_dir() -> Option<PathBuf> {
    xlqa_core::testdata::shared_or_skip("data_real", "tatoeba_laser_v1")
}

fn lang(code: &str) -> Lang {
    Lang::parse(code).unwrap()
}

#[test]
fn tatoeba_real_counts() {
    let Some(data) = data_dir() else { return };
    let dir = data.join("tatoeba_laser_v1");
    let (pairs, summary) = read_tatoeba(&dir, &[], None).unwrap();
    // SOURCE.txt: 112 languages, 1000 pairs for 72 of them, 88,877 in all;
    // no empty line in any file.
    assert_eq!(summary.pairs_by_lang.len(), 112);
    assert_eq!(pairs.len(), 88_877);
    assert_eq!(
        summary
            .pairs_by_lang
            .values()
            .filter(|&&n| n == 1000)
            .count(),
        72
    );
    assert!(summary.skipped.is_empty(), "{:?}", summary.skipped);
    assert_eq!(summary.files.len(), 224);
    assert_eq!(summary.pairs_by_lang["de-en"], 1000);
    // ISO 639-3 codes canonicalized: cmn -> zh, swh -> sw, pes -> fa;
    // codes without a two-letter equivalent stay (yue, ber).
    for key in ["zh-en", "sw-en", "fa-en", "yue-en", "ber-en"] {
        assert!(summary.pairs_by_lang.contains_key(key), "{key}");
    }
    let first_de = pairs.iter().find(|p| p.a_lang.as_str() == "de").unwrap();
    assert_eq!(first_de.source, "tatoeba_laser_v1/tatoeba.deu-eng.deu:1");
    assert_eq!(first_de.b_lang.as_str(), "en");
    assert_eq!(first_de.kind, PairKind::Translation);

    let (pairs, summary) =
        read_tatoeba(&dir, &[lang("de"), lang("ko"), lang("sw")], Some(100)).unwrap();
    assert_eq!(pairs.len(), 300);
    assert_eq!(summary.files.len(), 6);
    assert_eq!(pairs[0].a, first_de.a);
}

#[test]
fn xor_translations_real_counts() {
    let Some(data) = data_dir() else { return };
    let dir = data.join("xor_tydi_question_translations");
    let (pairs, summary) = read_xor_translations(&dir, &[], None).unwrap();
    // SOURCE.txt line counts: ar 4649, bn 4687, fi 4638, ja 4700, ko 4697,
    // ru 4745, te 4761 = 32,877; ar-en/en.txt has one empty line.
    let lines = [
        ("ar", 4649),
        ("bn", 4687),
        ("fi", 4638),
        ("ja", 4700),
        ("ko", 4697),
        ("ru", 4745),
        ("te", 4761),
    ];
    for (code, n) in lines {
        assert_eq!(summary.read_by_lang[code], n, "{code}");
    }
    assert_eq!(summary.skipped.len(), 1);
    assert_eq!(summary.skipped["empty_line:ar-en"], 1);
    assert_eq!(summary.pairs_by_lang["ar-en"], 4648);
    assert_eq!(summary.pairs_by_lang["ko-en"], 4697);
    assert_eq!(pairs.len(), 32_877 - 1);
}

#[test]
fn tydi_train_real_counts_and_xor_join() {
    let Some(data) = data_dir() else { return };
    let (xor_ko, _) = read_xor_translations(
        &data.join("xor_tydi_question_translations"),
        &[lang("ko")],
        None,
    )
    .unwrap();
    let map = translation_map(&xor_ko);
    // 4697 lines, 4543 distinct Korean questions
    assert_eq!(map.len(), 4543);

    let dir = data.join("tydiqa_goldp_v1.1");
    let (pairs, summary) = read_tydi_train(&dir, &[], None, Some(&map)).unwrap();
    // SOURCE.txt: en 3696, ko 1625, sw 2755 questions, one answer each.
    assert_eq!(summary.read_by_lang["en"], 3696);
    assert_eq!(summary.read_by_lang["ko"], 1625);
    assert_eq!(summary.read_by_lang["sw"], 2755);
    assert_eq!(summary.files.len(), 3);
    assert!(summary
        .files
        .iter()
        .all(|f| f.to_string_lossy().contains("train_partial")));
    // 57 Korean train questions (56 distinct) were translated by XOR-TyDi
    // (checked independently with a script).
    assert_eq!(summary.pairs_by_lang["en-ko"], 57);
    assert_eq!(summary.pairs_by_lang["en"], 3695);
    assert_eq!(summary.pairs_by_lang["ko"], 1625);
    assert_eq!(summary.pairs_by_lang["sw"], 2755);
    assert_eq!(summary.pairs_by_lang["en-sw"], 0);
    assert!(!summary.pairs_by_lang.contains_key("en-en"));
    // one English answer starts in white space between two sentences
    assert_eq!(summary.skipped.len(), 1);
    assert_eq!(summary.skipped["answer_in_no_sentence:en"], 1);
    // every answer text is at its answer_start; some answers span a
    // sentence break (mostly after abbreviations)
    assert_eq!(summary.warnings.len(), 3);
    assert_eq!(summary.warnings["answer_spans_sentences:en"], 76);
    assert_eq!(summary.warnings["answer_spans_sentences:ko"], 9);
    assert_eq!(summary.warnings["answer_spans_sentences:sw"], 19);
    assert_eq!(pairs.len(), 3695 + 1625 + 2755 + 57);
    // "U.S. Highway 20" is split after "U.S." by the segmenter; the positive
    // holds the whole answer.
    assert!(pairs
        .iter()
        .any(|p| p.b.starts_with("U.S. Highway 20 (US20) is an east–west")));
    assert!(!pairs.iter().any(|p| p.b == "U.S."));
    assert_eq!(
        pairs.len(),
        summary.pairs_by_lang.values().sum::<usize>(),
        "summary counts every pair"
    );
    let cross: Vec<_> = pairs.iter().filter(|p| p.a_lang != p.b_lang).collect();
    assert_eq!(cross.len(), 57);
    assert!(cross.iter().all(|p| p.a_lang.as_str() == "en"
        && p.b_lang.as_str() == "ko"
        && p.kind == PairKind::QuestionAnswer));
    assert!(pairs.iter().all(|p| !p.b.is_empty()));
}

#[test]
fn xor_ko_overlap_with_xor_dev_is_found() {
    let Some(data) = data_dir() else { return };
    let (xor_ko, _) = read_xor_translations(
        &data.join("xor_tydi_question_translations"),
        &[lang("ko")],
        None,
    )
    .unwrap();
    let dev = std::fs::read_to_string(
        data.join("xor_tydi_v1.1_retrieve_engspan/xor_dev_retrieve_eng_span_v1_1.jsonl"),
    )
    .unwrap();
    let dev_questions: HashSet<String> = dev
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["question"].as_str().unwrap().trim().to_string()
        })
        .collect();
    // SOURCE.txt: 22 ko lines of the translations are XOR-Retrieve dev
    // questions (21 distinct; checked independently with a script).
    let n = xor_ko.len();
    let (kept, removed) = drop_overlapping(xor_ko, &dev_questions);
    assert_eq!(removed, 22);
    assert_eq!(kept.len(), n - 22);
    assert!(kept.iter().all(|p| !dev_questions.contains(&p.a)));
}
