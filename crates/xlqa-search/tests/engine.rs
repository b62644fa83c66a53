//! The engine through its library API (no CLI): a small linked collection
//! indexed once, then the paths a user can hit — an undetectable question
//! language, a reader that is not loaded, both span-evidence modes, the
//! notes the span reader attaches, several linked chunks, the retriever
//! choice and fusion, and concurrent questions on one engine.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use xlqa_core::{Document, Lang, Question};
use xlqa_models::ModelHome;
use xlqa_search::{
    AskOptions, EncoderChoice, Engine, EngineBuilder, FusionMethod, IndexOptions, RetrieverChoice,
    SpanEvidence,
};

fn home() -> ModelHome {
    ModelHome::from_env().expect("model home")
}

fn doc(id: &str, lang: &str, group: Option<&str>, title: &str, text: &str) -> Document {
    Document {
        id: id.into(),
        title: title.into(),
        text: text.into(),
        lang: Some(Lang::parse(lang).unwrap()),
        group: group.map(str::to_string),
    }
}

/// en/es/de versions of two topics (linked by group), a long linked pair
/// chunked into several passages, and an unlinked French document.
fn collection() -> Vec<Document> {
    let filler_en = "The valley is known for its orchards, its old stone bridges and a market held every Saturday in the square. ".repeat(12);
    let filler_es = "El valle es conocido por sus huertos, sus viejos puentes de piedra y un mercado que se celebra cada sábado en la plaza. ".repeat(12);
    vec![
        doc("tower-en", "en", Some("tower"), "Old Tower", "The old tower of the town is 84 metres high. It was built in 1350 by the master mason Johann Weber and restored in 1920."),
        doc("tower-de", "de", Some("tower"), "Alter Turm", "Der alte Turm der Stadt ist 84 Meter hoch. Er wurde 1350 vom Baumeister Johann Weber errichtet und 1920 restauriert."),
        doc("bridge-en", "en", Some("bridge"), "Harbour Bridge", "The harbour bridge was opened in 1932. It is made of steel and carries eight lanes of traffic across the bay."),
        doc("bridge-es", "es", Some("bridge"), "Puente del puerto", "El puente del puerto se inauguró en 1932. Está hecho de acero y lleva ocho carriles de tráfico sobre la bahía."),
        doc("valley-en", "en", Some("valley"), "Green Valley", &format!("{filler_en}The river of the valley is called the Silverbrook and is 212 kilometres long. {filler_en}")),
        doc("valley-es", "es", Some("valley"), "Valle Verde", &format!("{filler_es}El río del valle se llama Silverbrook y mide 212 kilómetros de largo. {filler_es}")),
        doc("lake-fr", "fr", None, "Lac Bleu", "Le lac Bleu se trouve à 1 800 mètres d'altitude. Il gèle chaque hiver pendant trois mois."),
    ]
}

fn index_dir() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, p) = DIR.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("idx");
        let h = home();
        let enc = xlqa_search::builder::load_encoder(&h, &EncoderChoice::default()).unwrap();
        let langid = xlqa_search::builder::load_langid(&h).unwrap();
        let opts = IndexOptions {
            progress: false,
            ..IndexOptions::default()
        };
        xlqa_search::build_index(collection(), &enc, &langid, &out, &opts).unwrap();
        (tmp, out)
    });
    p
}

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| {
        EngineBuilder::new(index_dir())
            .home(home())
            .reader("span")
            .reader("sentence")
            .build()
            .unwrap()
    })
}

fn q(text: &str) -> Question {
    Question {
        id: "q".into(),
        question: text.into(),
        lang: None,
    }
}

fn langs(codes: &[&str]) -> Vec<Lang> {
    codes.iter().map(|c| Lang::parse(c).unwrap()).collect()
}

#[test]
fn an_undetectable_question_language_is_an_error_that_names_the_question() {
    let e = engine()
        .ask(&q("12345 ???"), &AskOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot detect its language") && e.contains("\"q\""),
        "{e}"
    );
    // given explicitly, the same question is answered
    let o = AskOptions {
        lang: Some(Lang::parse("en").unwrap()),
        ..AskOptions::default()
    };
    assert!(engine().ask(&q("12345 ???"), &o).is_ok());
}

#[test]
fn a_reader_that_is_not_loaded_or_unknown_is_an_error() {
    let bare = EngineBuilder::new(index_dir())
        .home(home())
        .build()
        .unwrap();
    let e = bare
        .ask(&q("How high is the old tower?"), &AskOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("span reader is not loaded"), "{e}");
    let none = AskOptions {
        reader: "none".into(),
        ..AskOptions::default()
    };
    let r = bare.ask(&q("How high is the old tower?"), &none).unwrap();
    assert!(r.answer.is_none() && !r.passages.is_empty());
    let e = EngineBuilder::new(index_dir())
        .home(home())
        .reader("oracle")
        .build()
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("unknown reader \"oracle\""), "{e}");
}

#[test]
fn both_span_evidence_modes_answer_in_the_question_language() {
    for mode in [SpanEvidence::Sentence, SpanEvidence::Passages] {
        let o = AskOptions {
            span_evidence: mode,
            ..AskOptions::default()
        };
        let r = engine()
            .ask(&q("How high is the old tower of the town?"), &o)
            .unwrap();
        let a = r.answer.expect("an answer");
        assert_eq!(a.lang.as_str(), "en", "{mode:?}");
        assert!(!a.cross_lingual && a.projected_from.is_none(), "{mode:?}");
        assert!(a.no_answer_score.is_some());
        assert_eq!(a.reader, "span");
    }
}

#[test]
fn an_answer_from_another_language_is_carried_over_or_explained() {
    // Spanish removed: the answer is read in English (or German) and carried
    // into the linked Spanish passage, or returned with a note saying why
    let o = AskOptions {
        retrieve: xlqa_search::RetrieveOptions {
            exclude_langs: langs(&["es"]),
            ..Default::default()
        },
        ..AskOptions::default()
    };
    let r = engine()
        .ask(&q("¿En qué año se inauguró el puente del puerto?"), &o)
        .unwrap();
    let a = r.answer.clone().expect("an answer");
    assert!(r.passages.iter().all(|p| p.lang.as_str() != "es"));
    match &a.projected_from {
        Some(p) => {
            assert_eq!(a.lang.as_str(), "es");
            assert!(!a.cross_lingual);
            assert_ne!(p.lang.as_str(), "es");
            assert_eq!(a.doc_id, "bridge-es", "{a:?}");
        }
        None => {
            assert!(a.cross_lingual);
            assert!(
                r.note.as_deref().unwrap_or("").contains("another language"),
                "{r:?}"
            );
        }
    }
    // without projection the answer stays in its language, with the note
    let np = AskOptions {
        project: false,
        ..o.clone()
    };
    let r = engine()
        .ask(&q("¿En qué año se inauguró el puente del puerto?"), &np)
        .unwrap();
    let a = r.answer.expect("an answer");
    assert!(a.cross_lingual && a.projected_from.is_none());
    let note = r.note.expect("a note");
    assert!(
        note.contains("another language") && note.contains("no passage in es is linked"),
        "{note}"
    );
}

#[test]
fn an_answer_in_an_unlinked_passage_says_so() {
    let o = AskOptions {
        lang: Some(Lang::parse("en").unwrap()),
        retrieve: xlqa_search::RetrieveOptions {
            exclude_langs: langs(&["en", "es", "de"]),
            ..Default::default()
        },
        ..AskOptions::default()
    };
    let r = engine()
        .ask(&q("How high above sea level is Lac Bleu?"), &o)
        .unwrap();
    let a = r.answer.expect("an answer");
    assert_eq!(a.lang.as_str(), "fr");
    assert!(a.cross_lingual);
    assert!(r
        .note
        .unwrap_or_default()
        .contains("no passage in en is linked"));
}

#[test]
fn a_linked_document_with_several_chunks_gives_the_closest_chunk() {
    let c = engine().corpus();
    let store = &c.index.store;
    let rows = |doc: &str| {
        (0..store.len() as u32)
            .filter(|&r| store.get(r).is_some_and(|p| p.doc_id == doc))
            .collect::<Vec<_>>()
    };
    let (en, es) = (rows("valley-en"), rows("valley-es"));
    assert!(
        en.len() >= 2 && es.len() >= 2,
        "long documents are chunked: {en:?} {es:?}"
    );
    let es_lang = Lang::parse("es").unwrap();
    for &r in &en {
        let linked = c
            .linked_passage(r, &es_lang)
            .expect("a linked Spanish chunk");
        assert!(es.contains(&linked));
    }
    // the chunk holding the river sentence links to the Spanish chunk holding it
    let river_en = en
        .iter()
        .copied()
        .find(|&r| store.get(r).unwrap().text.contains("Silverbrook"))
        .unwrap();
    let linked = c.linked_passage(river_en, &es_lang).unwrap();
    assert!(store.get(linked).unwrap().text.contains("Silverbrook"));
    assert!(c
        .linked_passage(river_en, &Lang::parse("ja").unwrap())
        .is_none());
}

#[test]
fn retriever_choice_and_fusion_report_each_retrievers_rank() {
    let question = q("When was the harbour bridge opened?");
    let mut o = AskOptions {
        reader: "none".into(),
        ..AskOptions::default()
    };
    o.retrieve.retriever = RetrieverChoice::bm25();
    let r = engine().ask(&question, &o).unwrap();
    assert!(r
        .passages
        .iter()
        .all(|p| p.ranks.of("dense").is_none() && p.ranks.of("bm25").is_some()));
    assert!(
        r.timings.dense_ms == 0.0 && r.timings.encode_ms == 0.0,
        "BM25 alone embeds nothing"
    );
    o.retrieve.retriever = RetrieverChoice::Hybrid;
    for fusion in [FusionMethod::Rrf, FusionMethod::Interp] {
        o.retrieve.fusion = fusion;
        let r = engine().ask(&question, &o).unwrap();
        assert_eq!(r.passages[0].doc_id, "bridge-en", "{fusion:?}");
        assert!(
            r.passages[0].ranks.of("dense").is_some() && r.passages[0].ranks.of("bm25").is_some()
        );
        let json = serde_json::to_value(&r.passages[0]).unwrap();
        assert!(
            json.get("dense_rank").is_some() && json.get("bm25_score").is_some(),
            "{json}"
        );
    }
    // a zero weight silences a retriever in the fused score
    o.retrieve.fusion = FusionMethod::Rrf;
    o.retrieve.weights.insert("bm25".into(), 0.0);
    let r = engine().ask(&question, &o).unwrap();
    let rrf_dense = |rank: usize| 1.0 / (60.0 + rank as f32);
    for p in &r.passages {
        let d = p.ranks.of("dense").map_or(0.0, |x| rrf_dense(x.rank));
        assert!((p.score - d).abs() < 1e-6);
    }
    assert!("nope"
        .parse::<RetrieverChoice>()
        .unwrap_err()
        .contains("unknown retriever"));
}

#[test]
fn one_engine_answers_concurrent_questions_like_one_at_a_time() {
    let qs = [
        "How high is the old tower?",
        "Wann wurde der Turm gebaut?",
        "¿De qué está hecho el puente?",
        "When was the harbour bridge opened?",
    ];
    let o = AskOptions::default();
    let alone: Vec<Option<String>> = qs
        .iter()
        .map(|t| engine().ask(&q(t), &o).unwrap().answer.map(|a| a.text))
        .collect();
    let together: Vec<Option<String>> = std::thread::scope(|s| {
        let hs: Vec<_> = qs
            .iter()
            .map(|t| s.spawn(|| engine().ask(&q(t), &o).unwrap().answer.map(|a| a.text)))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(alone, together);
}

#[test]
fn ask_options_round_trip_through_json() {
    let o: AskOptions =
        serde_json::from_str(r#"{"reader":"sentence","retrieve":{"retriever":"bm25","k":3}}"#)
            .unwrap();
    assert_eq!(o.reader, "sentence");
    assert_eq!(o.retrieve.retriever, RetrieverChoice::bm25());
    assert_eq!(o.retrieve.k, 3);
    assert_eq!(o.read_top, 5, "absent fields keep their defaults");
    let e = serde_json::from_str::<AskOptions>(r#"{"retrieve":{"retriever":"magic"}}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown retriever"), "{e}");
}
