//! The span-reader trainer on the real encoder: a few steps on a tiny slice
//! lower the loss and change every trained parameter (the frozen layers are
//! not parameters at all), runs are deterministic for a seed, a run stopped
//! at a checkpoint and resumed ends bit-identical to an uninterrupted one,
//! and decoding returns the gold text when the logits point at it.

use std::sync::OnceLock;
use std::time::Duration;

use candle_core::Tensor;
use xlqa_models::span::{SpanConfig, SpanModel};
use xlqa_models::{Encoder, EncoderOptions, ModelHome, Precision};
use xlqa_train::reader::{decode_text, ReaderExample, WindowKind};
use xlqa_train::reader_plan::{build_plan, Plan, PlanConfig};
use xlqa_train::reader_run::{DevSet, Run, RunControl, RunObserver, StepConfig};

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
        title: format!("t{id}"),
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

fn cfg(steps: usize, seed: u64) -> StepConfig {
    StepConfig {
        lower: 10,
        lr: 5e-4,
        warmup: 0.1,
        weight_decay: 0.01,
        layer_decay: 1.0,
        plan: PlanConfig {
            steps,
            batch: 4,
            alpha: 0.5,
            negative_rate: 0.0,
            seed,
            span: SpanConfig::default(),
        },
    }
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

fn plan(exs: &[ReaderExample], c: &StepConfig) -> Plan {
    let idx: Vec<usize> = (0..exs.len()).collect();
    build_plan(int8(), exs, &idx, &c.plan, &|_, _| {}).unwrap()
}

struct Quiet;
impl RunObserver for Quiet {
    fn step(&self, _: usize, _: usize, _: f64) {}
    fn note(&self, _: &str) {}
}

fn control(stop: Option<usize>) -> RunControl {
    RunControl {
        checkpoint_every: Duration::from_secs(3600),
        stop_after_steps: stop,
        time_budget: None,
        eval_every: 0,
    }
}

fn weights(m: &SpanModel) -> Vec<Vec<f32>> {
    m.vars().iter().map(|v| flat(v.as_tensor())).collect()
}

/// Trains `c` on the examples in `dir` (resuming when asked); the weights.
fn train(
    c: &StepConfig,
    dir: &std::path::Path,
    stop: Option<usize>,
    resume: bool,
) -> Vec<Vec<f32>> {
    let exs = examples();
    let p = plan(&exs, c);
    let dev = DevSet::new(int8(), p.windows[..2].to_vec(), c.lower).unwrap();
    let model = SpanModel::from_encoder(f32_enc(), c.lower, c.plan.seed).unwrap();
    let run = Run {
        enc: int8(),
        model: &model,
        plan: &p,
        dev: &dev,
        cfg: *c,
        dir: dir.to_path_buf(),
    };
    run.run(resume, control(stop), &Quiet).unwrap();
    weights(&model)
}

#[test]
fn a_few_steps_lower_the_loss_and_touch_only_the_trained_parameters() {
    let c = cfg(24, 7);
    let exs = examples();
    let p = plan(&exs, &c);
    assert_eq!(p.windows.len(), 96);
    assert!(p.windows.iter().all(|w| w.kind == WindowKind::Answer));
    let dev = DevSet::new(int8(), p.windows[..8].to_vec(), c.lower).unwrap();
    let model = SpanModel::from_encoder(f32_enc(), c.lower, c.plan.seed).unwrap();
    let before = weights(&model);
    let (loss0, _, _) = dev.evaluate(&model, 30).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = Run {
        enc: int8(),
        model: &model,
        plan: &p,
        dev: &dev,
        cfg: c,
        dir: dir.path().to_path_buf(),
    };
    let out = run.run(false, control(None), &Quiet).unwrap();
    assert!(out.finished);
    let (loss1, exact, _) = dev.evaluate(&model, 30).unwrap();
    println!("loss {loss0:.3} -> {loss1:.3}, exact spans {exact:.2}");
    assert!(loss1 < 0.5 * loss0, "loss {loss0} -> {loss1}");
    for (i, (a, b)) in weights(&model).iter().zip(&before).enumerate() {
        let d: f32 = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(d > 0.0, "parameter {i} did not change");
    }
    // the base encoder is untouched (the model's layers are separate copies)
    let base = f32_enc().trainable_layer(10).unwrap();
    assert_eq!(
        flat(base.wqkv.as_tensor()),
        before[0],
        "the base encoder's layer 10 changed"
    );
    assert!(exact >= 0.75, "exact-span rate {exact}");
    assert!(
        dir.path().join("checkpoint/state.json").is_file(),
        "a checkpoint at the end"
    );
}

#[test]
fn training_is_deterministic_for_a_seed() {
    let c = cfg(6, 11);
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    assert_eq!(
        train(&c, d1.path(), None, false),
        train(&c, d2.path(), None, false)
    );
}

#[test]
fn a_run_stopped_and_resumed_ends_bit_identical() {
    let c = StepConfig {
        plan: PlanConfig {
            negative_rate: 0.5,
            ..cfg(8, 5).plan
        },
        ..cfg(8, 5)
    };
    let d = tempfile::tempdir().unwrap();
    let straight = train(&c, d.path(), None, false);
    let r = tempfile::tempdir().unwrap();
    let half = train(&c, r.path(), Some(3), false);
    assert_ne!(half, straight, "stopped early");
    let resumed = train(&c, r.path(), None, true);
    assert_eq!(
        resumed, straight,
        "resumed run differs from the uninterrupted one"
    );
    // other settings are refused
    let other = StepConfig { lr: 1e-3, ..c };
    let exs = examples();
    let p = plan(&exs, &other);
    let dev = DevSet::new(int8(), Vec::new(), other.lower).unwrap();
    let model = SpanModel::from_encoder(f32_enc(), other.lower, 5).unwrap();
    let run = Run {
        enc: int8(),
        model: &model,
        plan: &p,
        dev: &dev,
        cfg: other,
        dir: r.path().to_path_buf(),
    };
    let e = run.run(true, control(None), &Quiet).err().unwrap();
    assert!(e.to_string().contains("other settings"), "{e}");
    // nothing to resume from
    let empty = tempfile::tempdir().unwrap();
    let run = Run {
        dir: empty.path().to_path_buf(),
        ..run
    };
    let e = run.run(true, control(None), &Quiet).err().unwrap();
    assert!(e.to_string().contains("no checkpoint"), "{e}");
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
fn long_passages_give_an_answer_window_and_negatives_from_the_same_passage() {
    let filler =
        "Die Stadt hat viele Straßen und Plätze, und jeden Tag kommen Besucher. ".repeat(40);
    let context = format!("{filler}Der Turm ist 84 Meter hoch. {filler}");
    let e = ex("long", "de", "Wie hoch ist der Turm?", &context, "84 Meter");
    let pieces = int8().count_tokens(&context);
    assert!(pieces > 3 * 256, "{pieces} pieces");
    let c = StepConfig {
        plan: PlanConfig {
            negative_rate: 1.0,
            ..cfg(10, 1).plan
        },
        ..cfg(10, 1)
    };
    let p = plan(std::slice::from_ref(&e), &c);
    let n = |k: WindowKind| p.windows.iter().filter(|w| w.kind == k).count();
    assert_eq!(n(WindowKind::Answer), 20, "{:?}", p.kinds);
    assert_eq!(
        n(WindowKind::OtherWindow),
        20,
        "one passage: negatives are its other windows"
    );
    for w in &p.windows {
        assert_eq!(w.has_answer(), w.start != 0);
        assert!(w.ids.len() <= 256);
    }
}
