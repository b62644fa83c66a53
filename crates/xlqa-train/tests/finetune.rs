//! Fine-tuning the encoder's top layers on the real encoder: a few steps
//! lower the loss; gradients reach the trained layers (and the scale, for
//! the learnable-scale losses) and nothing else; the frozen base copies do
//! not move; runs are deterministic for a seed; the delta written to disk
//! loads back into an encoder that embeds differently, under its own id and
//! checksum, and a changed file is refused.

use std::sync::OnceLock;

use candle_core::Tensor;
use xlqa_core::Lang;
use xlqa_data::pairs::{Pair, PairKind};
use xlqa_models::delta::{load_delta, save_delta, DeltaMeta, DELTA_FORMAT, DELTA_WEIGHTS};
use xlqa_models::{Encoder, EncoderOptions, ModelHome, Precision, TextKind};
use xlqa_train::finetune::{
    batch_loss, prepare, train, FinetuneConfig, FtModel, FtPair, Prepared, SourcePairs,
};
use xlqa_train::trainer::{Batching, Loss};

fn home() -> ModelHome {
    ModelHome::from_env().expect("model home")
}

fn int8() -> &'static Encoder {
    static E: OnceLock<Encoder> = OnceLock::new();
    E.get_or_init(|| Encoder::load(&home(), EncoderOptions::default()).expect("encoder"))
}

fn f32_enc() -> Encoder {
    Encoder::load(
        &home(),
        EncoderOptions {
            precision: Precision::F32,
            ..EncoderOptions::default()
        },
    )
    .expect("f32 encoder")
}

fn lang(s: &str) -> Lang {
    Lang::parse(s).expect("lang")
}

fn tr(a: &str, la: &str, b: &str) -> Pair {
    Pair {
        a: a.into(),
        a_lang: lang(la),
        b: b.into(),
        b_lang: lang("en"),
        kind: PairKind::Translation,
        source: String::new(),
        hard_negatives: Vec::new(),
    }
}

fn qa(q: &str, l: &str, s: &str, hard: &[&str]) -> Pair {
    Pair {
        a: q.into(),
        a_lang: lang(l),
        b: s.into(),
        b_lang: lang(l),
        kind: PairKind::QuestionAnswer,
        source: String::new(),
        hard_negatives: hard.iter().map(|h| h.to_string()).collect(),
    }
}

/// Hand-written pairs in several languages (no dataset needed).
fn translations() -> Vec<Pair> {
    vec![
        tr(
            "Der Hund schläft im Garten.",
            "de",
            "The dog is sleeping in the garden.",
        ),
        tr(
            "Ich trinke jeden Morgen Kaffee.",
            "de",
            "I drink coffee every morning.",
        ),
        tr(
            "El tren sale a las ocho.",
            "es",
            "The train leaves at eight.",
        ),
        tr(
            "Mi hermana vive en Madrid.",
            "es",
            "My sister lives in Madrid.",
        ),
        tr(
            "Я читаю интересную книгу.",
            "ru",
            "I am reading an interesting book.",
        ),
        tr("Сегодня очень холодно.", "ru", "It is very cold today."),
        tr("我喜欢吃苹果。", "zh", "I like to eat apples."),
        tr("这座山很高。", "zh", "This mountain is very high."),
    ]
}

fn questions() -> Vec<Pair> {
    vec![
        qa(
            "When was the bridge opened?",
            "en",
            "The bridge opened in 1932 after six years of work.",
            &["The city council paid for the bridge with a new tax."],
        ),
        qa(
            "Who wrote the novel?",
            "en",
            "The novel was written by Maria Santos, a teacher from Lisbon.",
            &["It was published in Brazil and sold well."],
        ),
        qa(
            "이 강의 길이는 얼마인가?",
            "ko",
            "이 강의 길이는 약 514킬로미터이다.",
            &["이 강은 한반도에 있다."],
        ),
        qa(
            "Mlima huo una urefu gani?",
            "sw",
            "Mlima Kilimanjaro una urefu wa mita 5895.",
            &["Mlima huo uko nchini Tanzania."],
        ),
    ]
}

fn cfg(loss: Loss) -> FinetuneConfig {
    FinetuneConfig {
        epochs: 20,
        batch_size: 12,
        lr: 2e-4,
        loss,
        batching: Batching::Xy,
        train_layers: 2,
        max_steps: 4,
        ..FinetuneConfig::default()
    }
}

fn prepared(c: &FinetuneConfig) -> (Prepared, Vec<Pair>, Vec<Pair>) {
    let (t, q) = (translations(), questions());
    let sources = [
        SourcePairs {
            name: "tatoeba",
            pairs: &t,
            kinds: (TextKind::Passage, TextKind::Passage),
        },
        SourcePairs {
            name: "tydi",
            pairs: &q,
            kinds: (TextKind::Query, TextKind::Passage),
        },
    ];
    let p = prepare(int8(), &sources, c, &|_, _| {}).expect("prepare");
    (p, t, q)
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all()
        .and_then(|t| t.to_vec1::<f32>())
        .expect("tensor to vec")
}

fn weights(m: &FtModel) -> Vec<Vec<f32>> {
    m.top
        .iter()
        .flat_map(|l| l.vars())
        .map(|v| flat(v.as_tensor()))
        .collect()
}

#[test]
fn prepare_caches_texts_and_aligns_translations() {
    let c = cfg(Loss::Dpr);
    let (p, t, q) = prepared(&c);
    assert_eq!(p.from_layer, 10);
    assert_eq!(p.pairs.len(), t.len() + q.len());
    // texts are shared: every pair's texts plus one hard negative per question
    assert_eq!(p.texts.len(), 2 * t.len() + 3 * q.len());
    for fp in &p.pairs {
        assert_eq!(fp.translation, fp.hard.is_empty());
        assert!(p.texts[fp.a].len >= 3 && p.texts[fp.a].x.len() == p.texts[fp.a].len * p.hidden);
        if fp.translation {
            assert!(
                !fp.align.is_empty(),
                "no word alignment for a translation pair"
            );
            for &(i, j) in &fp.align {
                // never the specials
                assert!(i >= 1 && usize::from(i) < p.texts[fp.a].len - 1);
                assert!(j >= 1 && usize::from(j) < p.texts[fp.b].len - 1);
            }
        } else {
            assert!(fp.align.is_empty());
        }
    }
    // in-batch: no hard negatives are cached
    let (p2, _, _) = prepared(&cfg(Loss::InBatch));
    assert_eq!(p2.texts.len(), 2 * t.len() + 2 * q.len());
}

#[test]
fn gradients_reach_only_the_trained_layers() {
    for loss in [Loss::Dpr, Loss::InBatch, Loss::Mixcse] {
        let c = cfg(loss);
        let (p, _, _) = prepared(&c);
        let m = FtModel::from_encoder(&f32_enc(), &c).expect("model");
        let refs: Vec<&FtPair> = p.pairs.iter().collect();
        let (l, parts) = batch_loss(&m, &p, &refs, &c, true).expect("loss");
        assert!(parts.align > 0.0, "{loss:?}: the alignment term is missing");
        // at the start the trained layers equal the base: no regularizer yet
        assert!(parts.reg < 1e-9, "{loss:?}: reg {} at step 0", parts.reg);
        let g = l.backward().expect("backward");
        for (k, v) in m.top.iter().flat_map(|l| l.vars()).enumerate() {
            let gv = g.get(v.as_tensor()).expect("gradient of a trained tensor");
            let norm: f32 = flat(gv).iter().map(|x| x * x).sum();
            assert!(norm > 0.0, "{loss:?}: tensor {k} has a zero gradient");
        }
        for v in m.base.iter().flat_map(|l| l.vars()) {
            assert!(
                g.get(v.as_tensor()).is_none(),
                "{loss:?}: a gradient reached the frozen base copy"
            );
        }
        assert_eq!(
            g.get(m.log_scale.as_tensor()).is_some(),
            loss != Loss::Mixcse,
            "{loss:?}: the scale is learnable exactly for in-batch and dpr"
        );
        let trainable = m.trainable(&c).len();
        assert_eq!(
            trainable,
            12 * c.train_layers + usize::from(loss != Loss::Mixcse)
        );
    }
}

#[test]
fn a_few_steps_lower_the_loss_and_are_deterministic() {
    let c = FinetuneConfig {
        max_steps: 6,
        ..cfg(Loss::Dpr)
    };
    let (p, _, _) = prepared(&c);
    let base_enc = f32_enc();
    let run = || {
        let m = FtModel::from_encoder(&base_enc, &c).expect("model");
        let refs: Vec<&FtPair> = p.pairs.iter().collect();
        let before = batch_loss(&m, &p, &refs, &c, false).expect("loss").1;
        let base_before: Vec<Vec<f32>> = m
            .base
            .iter()
            .flat_map(|l| l.vars())
            .map(|v| flat(v.as_tensor()))
            .collect();
        let w0 = weights(&m);
        let log = train(
            &m,
            &p,
            &p.pairs,
            &p.pairs,
            &c,
            &|_, _, _| {},
            &mut |_, _| Ok(()),
        )
        .expect("train");
        let after = batch_loss(&m, &p, &refs, &c, false).expect("loss").1;
        let w1 = weights(&m);
        let base_after: Vec<Vec<f32>> = m
            .base
            .iter()
            .flat_map(|l| l.vars())
            .map(|v| flat(v.as_tensor()))
            .collect();
        assert_eq!(base_before, base_after, "the frozen base copy moved");
        for (k, (a, b)) in w0.iter().zip(&w1).enumerate() {
            assert_ne!(a, b, "trained tensor {k} did not change");
        }
        assert!(
            after.contrastive < before.contrastive,
            "loss did not fall: {} -> {}",
            before.contrastive,
            after.contrastive
        );
        assert_eq!(log.last().map(|e| e.epoch), Some(6));
        w1
    };
    let a = run();
    let b = run();
    assert_eq!(a, b, "two runs with one seed differ");
}

#[test]
fn delta_round_trip_changes_the_encoder_and_refuses_a_changed_file() {
    let c = FinetuneConfig {
        max_steps: 2,
        ..cfg(Loss::InBatch)
    };
    let (p, _, _) = prepared(&c);
    let m = FtModel::from_encoder(&f32_enc(), &c).expect("model");
    train(&m, &p, &p.pairs, &[], &c, &|_, _, _| {}, &mut |_, _| Ok(())).expect("train");
    let dir = tempfile::tempdir().expect("tempdir");
    let base = int8();
    let mut meta = DeltaMeta {
        format: DELTA_FORMAT.into(),
        name: "test-align".into(),
        base_encoder: base.id().into(),
        base_weights_sha256: base.weights_sha256().into(),
        from_layer: p.from_layer,
        layers: c.train_layers,
        weights_sha256: String::new(),
        recipe: serde_json::json!({"test": true}),
        log: serde_json::Value::Null,
    };
    save_delta(dir.path(), &mut meta, &m.top).expect("save");
    assert_eq!(meta.weights_sha256.len(), 64);
    let (back, layers) = load_delta(dir.path(), base).expect("load");
    assert_eq!(back, meta);
    assert_eq!(layers.len(), 2);
    assert_eq!(
        flat(layers[1].wi.as_tensor()),
        flat(m.top[1].wi.as_tensor())
    );

    let mut tuned = Encoder::load(&home(), EncoderOptions::default()).expect("encoder");
    tuned.apply_delta(dir.path()).expect("apply");
    assert_eq!(tuned.id(), format!("{}+test-align", base.id()));
    assert_ne!(tuned.weights_sha256(), base.weights_sha256());
    assert!(tuned.delta_dir().is_some());
    let text = ["Der Hund schläft im Garten."];
    let e0 = base.encode(&text, TextKind::Passage).expect("encode");
    let e1 = tuned.encode(&text, TextKind::Passage).expect("encode");
    let cos: f32 = e0[0].iter().zip(&e1[0]).map(|(a, b)| a * b).sum();
    assert!(cos < 0.99999 && cos > 0.9, "cosine base vs tuned {cos}");

    // a changed weights file is refused, naming the file
    let w = dir.path().join(DELTA_WEIGHTS);
    let mut bytes = std::fs::read(&w).expect("read");
    let n = bytes.len();
    bytes[n - 1] ^= 1;
    std::fs::write(&w, bytes).expect("write");
    let mut again = Encoder::load(&home(), EncoderOptions::default()).expect("encoder");
    let err = again
        .apply_delta(dir.path())
        .expect_err("a changed file loads");
    assert!(
        err.to_string().contains(DELTA_WEIGHTS) && err.to_string().contains("sha256"),
        "{err}"
    );
    // a delta for another base encoder is refused
    let mut meta2 = meta.clone();
    meta2.base_weights_sha256 = "00".repeat(32);
    save_delta(dir.path(), &mut meta2, &m.top).expect("save");
    let Err(err) = load_delta(dir.path(), base) else {
        panic!("a delta for another base encoder loads");
    };
    assert!(err.to_string().contains("made for encoder"), "{err}");
}
