//! The span-reader trainer on the real encoder: a few steps on a tiny slice
//! lower the loss, change every trained parameter (and only those: the
//! frozen layers are not parameters at all, their states are cached), are
//! deterministic for a seed, and the decoding returns the gold text when the
//! logits point at it.

use std::sync::OnceLock;

use candle_core::Tensor;
use xlqa_models::span::{SpanConfig, SpanModel};
use xlqa_models::{Encoder, EncoderOptions, ModelHome, Precision};
use xlqa_train::reader::{
    cache_items, decode_text, evaluate, train_reader, ReaderExample, ReaderTrainConfig,
};

fn home() -> ModelHome {
    ModelHome::from_env().expect("model home")
}

fn int8() -> &'static Encoder {
    static E: OnceLock<Encoder> = OnceLock::new();
    E.get_or_init(|| Encoder::load(&home(), EncoderOptions::default()).expect("encoder"))
}

fn f32_enc() -> &'static Encoder {
    static E: OnceLock<Encoder> = OnceLock::new();
    E.get_or_init(|| {
        Encoder::load(
            &home(),
            EncoderOptions {
                precision: Precision::F32,
                ..EncoderOptions::default()
            },
        )
        .expect("f32 encoder")
    })
}

fn ex(id: &str, lang: &str, q: &str, c: &str, a: &str) -> ReaderExample {
    let s = c.find(a).expect("answer in context");
    ReaderExample {
        id: id.into(),
        question_lang: lang.into(),
        passage_lang: lang.into(),
        question: q.into(),
        context: c.into(),
        answer: (s, s + a.len()),
        source: "tydi",
    }
}

/// Hand-written questions in several languages (no dataset needed).
fn examples() -> Vec<ReaderExample> {
    vec![
        ex("1", "en", "When was the bridge opened?", "The bridge was built by the city council and opened in 1932 after six years of work.", "1932"),
        ex("2", "en", "Who wrote the novel?", "The novel was written by Maria Santos, a teacher from Lisbon, and published in Brazil.", "Maria Santos"),
        ex("3", "de", "Wie hoch ist der Turm?", "Der alte Turm der Stadt ist 84 Meter hoch und wurde im Mittelalter gebaut.", "84 Meter"),
        ex("4", "es", "¿Dónde nació el pintor?", "El pintor nació en Sevilla en 1599 y trabajó después en la corte de Madrid.", "Sevilla"),
        ex("5", "ko", "이 강의 길이는 얼마인가?", "이 강은 한반도에서 가장 긴 강으로 길이는 약 514킬로미터이다.", "514킬로미터"),
        ex("6", "sw", "Mlima huo una urefu gani?", "Mlima Kilimanjaro una urefu wa mita 5895 na uko nchini Tanzania.", "mita 5895"),
        ex("7", "en", "What colour is the flag?", "The flag of the club is green with a white star in the middle.", "green"),
        ex("8", "fr", "Quelle est la capitale de la région?", "La capitale de la région est Rennes, une ville de Bretagne.", "Rennes"),
    ]
}

fn cfg(steps: usize, seed: u64) -> ReaderTrainConfig {
    ReaderTrainConfig {
        lower: 10,
        epochs: 20,
        batch: 4,
        lr: 5e-4,
        warmup: 0.1,
        max_steps: steps,
        seed,
        keep_negative: 1.0,
        ..ReaderTrainConfig::default()
    }
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

#[test]
fn a_few_steps_lower_the_loss_and_touch_only_the_trained_parameters() {
    let c = cfg(24, 7);
    let items = cache_items(int8(), &examples(), &c, &|_, _| {}).unwrap();
    assert_eq!(items.len(), 8, "one window per short example");
    let model = SpanModel::from_encoder(f32_enc(), c.lower, c.seed).unwrap();
    let before: Vec<Vec<f32>> = model.vars().iter().map(|v| flat(v.as_tensor())).collect();
    let (loss0, _) = evaluate(&model, &items, &c, 384).unwrap();
    let log = train_reader(&model, &items, &items, &c, 384, &|_, _, _| {}, &mut |_| {
        Ok(())
    })
    .unwrap();
    let (loss1, exact) = evaluate(&model, &items, &c, 384).unwrap();
    println!("loss {loss0:.3} -> {loss1:.3}, exact spans {exact:.2}, log {log:?}");
    assert!(loss1 < 0.5 * loss0, "loss {loss0} -> {loss1}");
    // every trained tensor moved
    for (i, (v, b)) in model.vars().iter().zip(&before).enumerate() {
        let a = flat(v.as_tensor());
        let d: f32 = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(d > 0.0, "parameter {i} did not change");
    }
    // the frozen encoder is untouched: its trainable copy of a top layer is
    // still the base weights (the model's layers are separate copies)
    let base = f32_enc().trainable_layer(10).unwrap();
    assert_eq!(
        flat(base.wqkv.as_tensor()),
        before[0],
        "the base encoder's layer 10 changed"
    );
    // the trained model reads the gold spans of its training set
    assert!(exact >= 0.75, "exact-span rate {exact}");
}

#[test]
fn training_is_deterministic_for_a_seed() {
    let c = cfg(6, 11);
    let items = cache_items(int8(), &examples(), &c, &|_, _| {}).unwrap();
    let run = || {
        let m = SpanModel::from_encoder(f32_enc(), c.lower, c.seed).unwrap();
        train_reader(&m, &items, &items[..2], &c, 384, &|_, _, _| {}, &mut |_| {
            Ok(())
        })
        .unwrap();
        m.vars()
            .iter()
            .map(|v| flat(v.as_tensor()))
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

#[test]
fn decoding_returns_the_gold_text_in_every_script() {
    let enc = int8();
    let span = SpanConfig::default();
    for e in examples() {
        // logits that peak at the pieces of the gold answer
        let (q, _) = enc.pieces(&e.question).unwrap();
        let (c, spans) = enc.pieces(&e.context).unwrap();
        let f = xlqa_models::span::features_from_pieces(
            enc.special_ids(),
            &q,
            &c,
            spans.clone(),
            &span,
        );
        let (ps, pe) = xlqa_models::span::pieces_covering(&spans, e.answer.0, e.answer.1).unwrap();
        let logits: Vec<(Vec<f32>, Vec<f32>)> = f
            .windows
            .iter()
            .map(|w| {
                let mut s = vec![0.0; w.ids.len()];
                let mut en = vec![0.0; w.ids.len()];
                s[w.position_of(ps).unwrap()] = 10.0;
                en[w.position_of(pe).unwrap()] = 10.0;
                (s, en)
            })
            .collect();
        let got = decode_text(enc, &e, &logits, &span).unwrap().unwrap();
        assert_eq!(
            got,
            e.context[e.answer.0..e.answer.1].trim(),
            "example {}",
            e.id
        );
    }
}

#[test]
fn long_passages_are_cut_into_windows_that_keep_the_answer() {
    let enc = int8();
    let filler =
        "Die Stadt hat viele Straßen und Plätze, und jeden Tag kommen Besucher. ".repeat(40);
    let context = format!("{filler}Der Turm ist 84 Meter hoch. {filler}");
    let e = ex("long", "de", "Wie hoch ist der Turm?", &context, "84 Meter");
    let c = ReaderTrainConfig {
        keep_negative: 1.0,
        ..cfg(1, 1)
    };
    let items = cache_items(enc, std::slice::from_ref(&e), &c, &|_, _| {}).unwrap();
    let pieces = enc.count_tokens(&context);
    assert!(pieces > 3 * c.span.max_seq, "{pieces} pieces");
    assert!(items.len() >= 6, "{} windows", items.len());
    // with all negatives kept, exactly the windows holding the answer have a target
    let positives = items.iter().filter(|i| i.has_answer()).count();
    assert!(
        (1..=3).contains(&positives),
        "{positives} windows with the answer"
    );
}

#[test]
fn stopping_after_an_epoch_gives_that_epochs_checkpoint() {
    let c = ReaderTrainConfig {
        epochs: 2,
        max_steps: 0,
        ..cfg(0, 5)
    };
    let items = cache_items(int8(), &examples()[..4], &c, &|_, _| {}).unwrap();
    let weights = |m: &SpanModel| {
        m.vars()
            .iter()
            .map(|v| flat(v.as_tensor()))
            .collect::<Vec<_>>()
    };
    let full = SpanModel::from_encoder(f32_enc(), c.lower, c.seed).unwrap();
    let mut first = None;
    train_reader(
        &full,
        &items,
        &items[..1],
        &c,
        384,
        &|_, _, _| {},
        &mut |e| {
            if e.epoch == 1 {
                first = Some(weights(&full));
            }
            Ok(())
        },
    )
    .unwrap();
    let stopped = SpanModel::from_encoder(f32_enc(), c.lower, c.seed).unwrap();
    let c1 = ReaderTrainConfig {
        stop_after_epochs: 1,
        ..c.clone()
    };
    let log = train_reader(
        &stopped,
        &items,
        &items[..1],
        &c1,
        384,
        &|_, _, _| {},
        &mut |_| Ok(()),
    )
    .unwrap();
    assert_eq!(log.last().unwrap().epoch, 1);
    assert_eq!(Some(weights(&stopped)), first);
    assert_ne!(weights(&stopped), weights(&full));
}
