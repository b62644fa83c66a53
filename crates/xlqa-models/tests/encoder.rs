//! Behaviour of the e5 encoder: batching, padding, truncation, spans, metadata,
//! and cross-lingual retrieval on hand-written and XQuAD pairs.
mod common;

use std::cell::RefCell;

use common::{cosine, data_dir, dot, encoder, encoder_f32, home, read_squad};
use xlqa_models::{
    Encoder, EncoderOptions, ModelError, Precision, TextKind, E5_SMALL_Q4, E5_SMALL_TOKENIZER,
};

fn norm(v: &[f32]) -> f32 {
    dot(v, v).sqrt()
}

#[test]
fn metadata() {
    let enc = encoder();
    assert_eq!(enc.id(), "multilingual-e5-small-q4");
    assert_eq!(enc.dim(), 384);
    assert_eq!(enc.weights_sha256(), E5_SMALL_Q4.sha256);
    assert_eq!(enc.options().precision, Precision::Int8);
}

#[test]
fn empty_inputs() {
    let enc = encoder();
    assert!(enc.encode(&[], TextKind::Query).unwrap().is_empty());
    let v = enc.encode(&[""], TextKind::Passage).unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].len(), 384);
    assert!((norm(&v[0]) - 1.0).abs() < 1e-4);
    assert!(v[0].iter().all(|x| x.is_finite()));
    let ids = enc.input_ids("", TextKind::Query).unwrap();
    println!("ids of an empty query: {ids:?}");
    assert_eq!((ids[0], ids[ids.len() - 1]), (0, 2));
    assert_eq!(ids.len(), 2 + enc.count_tokens("query: "));
    assert_eq!(enc.count_tokens(""), 0);
    assert!(enc.token_spans("").is_empty());
}

#[test]
fn padding_never_changes_results() {
    let enc = encoder();
    let short = "Wer hat die Relativitätstheorie entwickelt?";
    let long1 = "Albert Einstein war ein theoretischer Physiker. ".repeat(12);
    let long2 = "爱因斯坦是二十世纪最重要的物理学家之一，他提出了相对论。".repeat(6);
    for kind in [TextKind::Query, TextKind::Passage] {
        let alone = enc.encode(&[short], kind).unwrap();
        let batch = enc.encode(&[&long1, short, &long2], kind).unwrap();
        let c = cosine(&alone[0], &batch[1]);
        assert!(c > 0.9999, "{kind:?}: padded cosine {c}");
        // and the long texts are unaffected by the short one
        let long_alone = enc.encode(&[&long2], kind).unwrap();
        assert!(cosine(&long_alone[0], &batch[2]) > 0.9999);
    }
}

#[test]
fn order_is_kept_and_vectors_are_normalized() {
    let enc = encoder();
    let texts = [
        "The cat sat on the mat.",
        "Le chat était assis sur le tapis.",
        "猫がマットの上に座った。",
        "القطة جلست على السجادة.",
        "A completely different sentence about quantum chromodynamics and gluons.",
    ];
    let all = enc.encode(&texts, TextKind::Passage).unwrap();
    assert_eq!(all.len(), texts.len());
    for (t, v) in texts.iter().zip(&all) {
        assert!((norm(v) - 1.0).abs() < 1e-4);
        let one = enc.encode(&[t], TextKind::Passage).unwrap();
        assert!(cosine(v, &one[0]) > 0.9999, "{t}");
    }
    // query and passage prefixes give different vectors
    let q = enc.encode(&[texts[0]], TextKind::Query).unwrap();
    assert!(cosine(&q[0], &all[0]) < 0.9999);
}

#[test]
fn long_texts_are_truncated() {
    let enc = encoder();
    let long = "Die Donau ist nach der Wolga der zweitlängste Fluss Europas. ".repeat(60);
    assert!(enc.count_tokens(&long) > 600);
    let ids = enc.input_ids(&long, TextKind::Passage).unwrap();
    assert_eq!(ids.len(), 512);
    assert_eq!((ids[0], ids[511]), (0, 2));
    let v = enc.encode(&[long.as_str()], TextKind::Passage).unwrap();
    assert!((norm(&v[0]) - 1.0).abs() < 1e-4);
    // truncation keeps the head: the first 510 content tokens are the same
    let head: String = long.chars().take(2000).collect();
    let head_ids = enc.input_ids(&head, TextKind::Passage).unwrap();
    assert_eq!(ids[..400], head_ids[..400]);
}

#[test]
fn progress_reports_texts_done() {
    let enc = encoder();
    let texts: Vec<String> = (0..40).map(|i| format!("question number {i}?")).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let seen = RefCell::new(Vec::new());
    let out = enc
        .encode_with_progress(&refs, TextKind::Query, &|n| seen.borrow_mut().push(n))
        .unwrap();
    assert_eq!(out.len(), 40);
    assert_eq!(*seen.borrow(), vec![32, 40]);
}

#[test]
fn spans_cover_the_pieces() {
    let enc = encoder();
    for text in [
        "Hello world, this is a test.",
        "  leading   and trailing  ",
        "北京是中国的首都。",
        "Die Straßenbahn fährt um 10:45 Uhr ab.",
        "cafe\u{301} und Ｆｕｌｌ-width",
        "ภาษาไทยไม่มีช่องว่างระหว่างคำ",
        "",
    ] {
        let spans = enc.token_spans(text);
        assert_eq!(spans.len(), enc.count_tokens(text), "{text:?}");
        let mut prev = 0;
        for &(a, b) in &spans {
            assert!(
                prev <= a && a <= b && b <= text.len(),
                "{text:?}: {spans:?}"
            );
            assert!(text.is_char_boundary(a) && text.is_char_boundary(b));
            assert!(
                !text[a..b].starts_with(char::is_whitespace),
                "{text:?}: {spans:?}"
            );
            prev = b;
        }
        // every non-whitespace character is inside some span
        for (i, c) in text.char_indices() {
            if !c.is_whitespace() {
                assert!(
                    spans.iter().any(|&(a, b)| a <= i && i < b),
                    "{text:?}: {c:?} uncovered by {spans:?}"
                );
            }
        }
    }
    assert_eq!(enc.token_spans("Hello world"), vec![(0, 5), (6, 11)]);
}

#[test]
fn bad_options_and_files_are_errors() {
    let h = home();
    let weights = h.ensure(&E5_SMALL_Q4).unwrap();
    let tokenizer = h.ensure(&E5_SMALL_TOKENIZER).unwrap();
    let bad = |opts: EncoderOptions| match Encoder::load_files(&weights, &tokenizer, opts) {
        Err(ModelError::Options(msg)) => msg,
        other => panic!("expected an options error, got {other:?}"),
    };
    let d = EncoderOptions::default();
    assert!(bad(EncoderOptions {
        max_tokens: 513,
        ..d
    })
    .contains("max_tokens"));
    assert!(bad(EncoderOptions { batch_size: 0, ..d }).contains("batch_size"));

    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.bin");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = Encoder::load_files(&cut, &tokenizer, d).unwrap_err();
    assert!(matches!(err, ModelError::Format(_)), "{err}");
    assert!(err.to_string().contains("cut.bin"), "{err}");
    let err = Encoder::load_files(&weights, &dir.path().join("missing.json"), d).unwrap_err();
    assert!(err.to_string().contains("missing.json"), "{err}");
}

/// Ranks `passages` for each query; returns the index of the best one.
fn best(enc: &Encoder, queries: &[&str], passages: &[&str]) -> Vec<usize> {
    let q = enc.encode(queries, TextKind::Query).unwrap();
    let p = enc.encode(passages, TextKind::Passage).unwrap();
    q.iter()
        .map(|qv| {
            (0..p.len())
                .max_by(|&a, &b| dot(qv, &p[a]).total_cmp(&dot(qv, &p[b])))
                .unwrap()
        })
        .collect()
}

#[test]
fn cross_lingual_pairs_rank_first() {
    let enc = encoder();
    let en = [
        "The Eiffel Tower is a wrought-iron lattice tower in Paris, completed in 1889.",
        "Photosynthesis is the process by which green plants turn sunlight, water and carbon dioxide into sugar.",
        "The Great Wall of China is a series of fortifications built across northern China over many centuries.",
        "Mount Everest, on the border of Nepal and China, is the highest mountain on Earth.",
    ];
    // questions in other languages about the English passages
    let queries = [
        ("zh", "埃菲尔铁塔在哪个城市？", 0),
        ("ar", "كيف تصنع النباتات غذاءها من ضوء الشمس؟", 1),
        ("de", "Wo wurde die Chinesische Mauer gebaut?", 2),
        ("de", "Welcher ist der höchste Berg der Welt?", 3),
        ("ar", "متى تم الانتهاء من بناء برج إيفل؟", 0),
        ("zh", "世界上最高的山是哪座？", 3),
    ];
    let qs: Vec<&str> = queries.iter().map(|q| q.1).collect();
    let got = best(enc, &qs, &en);
    for ((lang, q, want), got) in queries.iter().zip(got) {
        assert_eq!(got, *want, "[{lang}] {q} ranked passage {got} first");
    }
    // and English questions about passages in zh / ar / de
    let others = [
        "埃菲尔铁塔是位于巴黎的一座铁制镂空塔，于1889年建成。",
        "التمثيل الضوئي هو العملية التي تحول بها النباتات الخضراء ضوء الشمس والماء وثاني أكسيد الكربون إلى سكر.",
        "Die Chinesische Mauer ist eine Reihe von Befestigungen, die über viele Jahrhunderte im Norden Chinas errichtet wurden.",
        "珠穆朗玛峰位于尼泊尔和中国边境，是地球上最高的山峰。",
    ];
    let en_q = [
        "In which city is the Eiffel Tower?",
        "How do plants make sugar from sunlight?",
        "Where was the Great Wall built?",
        "What is the highest mountain on Earth?",
    ];
    assert_eq!(best(enc, &en_q, &others), vec![0, 1, 2, 3]);
}

#[test]
fn xquad_cross_lingual_retrieval() {
    let Some(data) = data_dir("xquad_cross_lingual_retrieval") else {
        return;
    };
    let enc = encoder();
    let en = read_squad(&data.join("xquad/xquad.en.json"));
    // the first paragraph of every 5th article: 10 English passages (parallel ids)
    let mut picks = Vec::new();
    let mut last_title = String::new();
    for (i, (title, _, _)) in en.iter().enumerate() {
        if *title != last_title {
            last_title = title.clone();
            picks.push(i);
        }
    }
    let picks: Vec<usize> = picks.into_iter().step_by(5).collect();
    let passages: Vec<&str> = picks.iter().map(|&i| en[i].1.as_str()).collect();
    for lang in ["zh", "ar", "de"] {
        let paras = read_squad(&data.join(format!("xquad/xquad.{lang}.json")));
        assert_eq!(paras.len(), en.len());
        let qs: Vec<&str> = picks.iter().map(|&i| paras[i].2[0].as_str()).collect();
        let got = best(enc, &qs, &passages);
        let hits = got.iter().enumerate().filter(|(i, g)| i == *g).count();
        println!(
            "xquad {lang}->en: {hits}/{} questions rank their paragraph first",
            qs.len()
        );
        assert!(
            hits * 10 >= qs.len() * 8,
            "{lang}: only {hits}/{} correct: {got:?}",
            qs.len()
        );
    }
}

#[test]
fn trainable_top_layer_matches_inference_and_gets_gradients() {
    let enc = encoder_f32();
    let texts = [
        "Wie hoch ist der Kilimandscharo?",
        "Mount Kilimanjaro is 5,895 metres high, the highest mountain in Africa.",
        "长城有多长？",
    ];
    let n = enc.num_layers();
    assert_eq!(n, 12);
    // layers 0..n-1 with the inference kernels, the last one differentiable
    let (below, lens) = enc.hidden_states(&texts, TextKind::Passage, n - 1).unwrap();
    assert_eq!(below.dims()[0], 3);
    let top = enc.trainable_layer(n - 1).unwrap();
    let out = top.forward(&below, &lens).unwrap();
    let pooled = xlqa_models::mean_pool_normalize_diff(&out, &lens).unwrap();
    let got: Vec<Vec<f32>> = pooled.to_vec2().unwrap();
    let want = enc.encode(&texts, TextKind::Passage).unwrap();
    for (g, w) in got.iter().zip(&want) {
        let c = cosine(g, w);
        assert!(
            c > 0.99999,
            "differentiable layer differs from inference: cosine {c}"
        );
    }
    // and the full stack's hidden states agree on real tokens, row by row
    let (all, _) = enc.hidden_states(&texts, TextKind::Passage, n).unwrap();
    let a: Vec<Vec<Vec<f32>>> = all.to_vec3().unwrap();
    let o: Vec<Vec<Vec<f32>>> = out.to_vec3().unwrap();
    for (i, &len) in lens.iter().enumerate() {
        for t in 0..len {
            for (x, y) in a[i][t].iter().zip(&o[i][t]) {
                assert!((x - y).abs() < 2e-3, "row {i} token {t}: {x} vs {y}");
            }
        }
    }
    // a loss on the pooled vectors reaches every parameter of the layer,
    // and nothing below it (the lower layers are a constant tensor)
    let loss = pooled.sqr().unwrap().sum_all().unwrap() - pooled.get(0).unwrap().sum_all().unwrap();
    let grads = loss.unwrap().backward().unwrap();
    for (k, v) in top.vars().iter().enumerate() {
        let g = grads
            .get(v.as_tensor())
            .unwrap_or_else(|| panic!("parameter {k} has no gradient"));
        let s: f32 = g.abs().unwrap().sum_all().unwrap().to_scalar().unwrap();
        assert!(s > 0.0, "parameter {k}: zero gradient");
    }
    assert!(
        grads.get(&below).is_none(),
        "the frozen layers must get no gradient"
    );
}

#[test]
fn answer_spans_are_projected_through_token_alignment() {
    use xlqa_models::align::project_span;
    let enc = encoder();
    let en = "The Old Harbour Bridge was designed by the engineer Anna Lindqvist. It was opened in 1932 and is 480 metres long. It carries trains and cars across the river.";
    let de = "Die Alte Hafenbrücke wurde von der Ingenieurin Anna Lindqvist entworfen. Sie wurde 1932 eröffnet und ist 480 Meter lang. Sie trägt Züge und Autos über den Fluss.";
    let span = |s: &str, a: &str| {
        let i = s.find(a).unwrap();
        (i, i + a.len())
    };
    // written the same in both: found verbatim
    let p = project_span(enc, en, span(en, "Anna Lindqvist"), de)
        .unwrap()
        .unwrap();
    assert_eq!(
        (p.method, &de[p.start..p.end]),
        ("identical", "Anna Lindqvist")
    );
    // different words: through the alignment
    for (src, want) in [
        ("trains and cars", ["Züge", "Autos"]),
        ("480 metres", ["480", "Meter"]),
    ] {
        let p = project_span(enc, en, span(en, src), de).unwrap().unwrap();
        let got = &de[p.start..p.end];
        println!("{src:?} -> {got:?} ({})", p.method);
        assert_eq!(p.method, "alignment");
        for w in want {
            assert!(got.contains(w), "{src:?} -> {got:?}");
        }
        assert!(got.len() < 3 * src.len(), "{src:?} -> {got:?}");
    }
}
