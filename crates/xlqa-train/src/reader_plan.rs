//! The training stream of the span reader, fixed in advance.
//!
//! Every window of every step is a pure function of the examples, the
//! [`PlanConfig`] and the seed, so a resumed run rebuilds exactly the stream
//! it was interrupted in (checked by a fingerprint in the checkpoint).
//!
//! * Languages are sampled with probability ∝ n^α (n = training questions
//!   of the language; α = 1 is proportional, α = 0 uniform), as multilingual
//!   pre-training does to keep large languages from drowning small ones.
//!   Within a language, questions are drawn without replacement from a
//!   shuffled order that is reshuffled when it runs out.
//! * Each drawn question gives its answer window; with probability
//!   `negative_rate` it also gives one negative window: another window of
//!   its passage when the passage has several (half the time), else the
//!   question over another paragraph of the same article (a random
//!   paragraph of the same language when the article has one paragraph).
//! * Windows are grouped into batches of similar length inside pools of
//!   `16 × batch` consecutive windows (less padding, same mix over time).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use xlqa_core::SplitMix64;
use xlqa_models::encoder::Pieces;
use xlqa_models::span::{pieces_covering, SpanConfig};
use xlqa_models::Encoder;

use crate::reader::{fnv, windows_of, ReaderExample, ReaderTrainError, TrainWindow, WindowKind};

/// What decides the stream.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct PlanConfig {
    pub steps: usize,
    pub batch: usize,
    /// Language sampling exponent.
    pub alpha: f64,
    /// Negative windows per drawn question.
    pub negative_rate: f64,
    pub seed: u64,
    pub span: SpanConfig,
}

/// A language's share of the stream.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LangShare {
    pub lang: String,
    pub questions: usize,
    pub probability: f64,
    /// Questions drawn in the stream.
    pub drawn: usize,
}

/// The stream: windows in order and the batches over them.
pub struct Plan {
    pub windows: Vec<TrainWindow>,
    pub batches: Vec<Vec<usize>>,
    pub mix: Vec<LangShare>,
    /// Windows per kind (`Answer`, `OtherWindow`, `OtherParagraph`).
    pub kinds: BTreeMap<String, usize>,
    /// Drawn questions whose answer fits no window (longer than `max_answer`).
    pub skipped: usize,
    /// Stable hash of every window's ids and targets, for `--resume`.
    pub fingerprint: String,
}

/// Word pieces of each distinct passage, computed once.
struct PieceCache<'a> {
    enc: &'a Encoder,
    map: HashMap<&'a str, Pieces>,
}

impl<'a> PieceCache<'a> {
    fn get(&mut self, text: &'a str) -> Result<&Pieces, ReaderTrainError> {
        if !self.map.contains_key(text) {
            let p = self.enc.pieces(text)?;
            self.map.insert(text, p);
        }
        Ok(&self.map[text])
    }
}

/// Sampling probabilities per language (∝ count^alpha), in code order.
pub fn language_mix(examples: &[ReaderExample], idx: &[usize], alpha: f64) -> Vec<LangShare> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for &i in idx {
        *counts
            .entry(examples[i].question_lang.as_str())
            .or_default() += 1;
    }
    let z: f64 = counts.values().map(|&n| (n as f64).powf(alpha)).sum();
    counts
        .into_iter()
        .map(|(l, n)| LangShare {
            lang: l.to_string(),
            questions: n,
            probability: (n as f64).powf(alpha) / z,
            drawn: 0,
        })
        .collect()
}

/// Draws questions: a language by `mix`, then the next of its shuffled list.
struct Sampler {
    by_lang: Vec<Vec<usize>>,
    next: Vec<usize>,
    cum: Vec<f64>,
}

impl Sampler {
    fn new(examples: &[ReaderExample], idx: &[usize], mix: &[LangShare]) -> Sampler {
        let pos: HashMap<&str, usize> = mix
            .iter()
            .enumerate()
            .map(|(k, s)| (s.lang.as_str(), k))
            .collect();
        let mut by_lang = vec![Vec::new(); mix.len()];
        for &i in idx {
            by_lang[pos[examples[i].question_lang.as_str()]].push(i);
        }
        let mut acc = 0.0;
        let cum = mix
            .iter()
            .map(|s| {
                acc += s.probability;
                acc
            })
            .collect();
        Sampler {
            next: vec![usize::MAX; mix.len()],
            by_lang,
            cum,
        }
    }

    fn draw(&mut self, rng: &mut SplitMix64) -> (usize, usize) {
        let r = unit(rng) * self.cum.last().copied().unwrap_or(1.0);
        let k = self
            .cum
            .iter()
            .position(|&c| r < c)
            .unwrap_or(self.cum.len() - 1);
        if self.next[k] >= self.by_lang[k].len() {
            rng.shuffle(&mut self.by_lang[k]);
            self.next[k] = 0;
        }
        self.next[k] += 1;
        (k, self.by_lang[k][self.next[k] - 1])
    }
}

fn unit(rng: &mut SplitMix64) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// Paragraphs by article and by language (indices of one example each).
struct Paragraphs<'a> {
    of_title: HashMap<&'a str, Vec<usize>>,
    of_lang: HashMap<&'a str, Vec<usize>>,
}

impl<'a> Paragraphs<'a> {
    fn new(examples: &'a [ReaderExample], idx: &[usize]) -> Paragraphs<'a> {
        let mut seen = std::collections::HashSet::new();
        let (mut of_title, mut of_lang) = (HashMap::new(), HashMap::new());
        for &i in idx {
            let e = &examples[i];
            if seen.insert(e.context.as_str()) {
                of_title
                    .entry(e.title.as_str())
                    .or_insert_with(Vec::new)
                    .push(i);
                of_lang
                    .entry(e.passage_lang.as_str())
                    .or_insert_with(Vec::new)
                    .push(i);
            }
        }
        Paragraphs { of_title, of_lang }
    }

    /// Another paragraph than `e`'s: same article if possible.
    fn other(
        &self,
        examples: &[ReaderExample],
        e: &ReaderExample,
        rng: &mut SplitMix64,
    ) -> Option<usize> {
        for pool in [
            self.of_title.get(e.title.as_str()),
            self.of_lang.get(e.passage_lang.as_str()),
        ] {
            let Some(pool) = pool.filter(|p| p.len() > 1) else {
                continue;
            };
            for _ in 0..4 {
                let j = pool[rng.below(pool.len())];
                if examples[j].context != e.context {
                    return Some(j);
                }
            }
        }
        None
    }
}

/// Builds the stream of `cfg.steps × cfg.batch` windows from the training
/// examples `idx`. `progress(windows built, total)`.
pub fn build_plan(
    enc: &Encoder,
    examples: &[ReaderExample],
    idx: &[usize],
    cfg: &PlanConfig,
    progress: &dyn Fn(usize, usize),
) -> Result<Plan, ReaderTrainError> {
    if idx.is_empty() || cfg.steps == 0 || cfg.batch == 0 {
        return Err(ReaderTrainError::Config(
            "no training examples, steps or batch".into(),
        ));
    }
    let total = cfg.steps * cfg.batch;
    let mut mix = language_mix(examples, idx, cfg.alpha);
    let mut sampler = Sampler::new(examples, idx, &mix);
    let paragraphs = Paragraphs::new(examples, idx);
    let mut cache = PieceCache {
        enc,
        map: HashMap::new(),
    };
    let mut rng = SplitMix64::new(cfg.seed ^ 0x5eed_91a4);
    let (mut windows, mut skipped) = (Vec::with_capacity(total), 0usize);
    let mut guard = 0usize;
    while windows.len() < total {
        guard += 1;
        if guard > 4 * total + 1000 {
            return Err(ReaderTrainError::Config(
                "no drawn question has an answer that fits a window".into(),
            ));
        }
        let (k, i) = sampler.draw(&mut rng);
        mix[k].drawn += 1;
        let got = question_windows(enc, &mut cache, examples, i, &paragraphs, cfg, &mut rng)?;
        if got.is_empty() {
            skipped += 1;
        }
        windows.extend(got);
        if windows.len() % 1024 < 2 {
            progress(windows.len().min(total), total);
        }
    }
    windows.truncate(total);
    progress(total, total);
    let batches = batches_of(&windows, cfg.batch, cfg.seed);
    let mut kinds = BTreeMap::new();
    for w in &windows {
        *kinds.entry(format!("{:?}", w.kind)).or_default() += 1;
    }
    let fingerprint = fingerprint(&windows, &batches);
    Ok(Plan {
        windows,
        batches,
        mix,
        kinds,
        skipped,
        fingerprint,
    })
}

/// The answer window of question `i` and, by chance, a negative one.
fn question_windows<'a>(
    enc: &Encoder,
    cache: &mut PieceCache<'a>,
    examples: &'a [ReaderExample],
    i: usize,
    paragraphs: &Paragraphs<'_>,
    cfg: &PlanConfig,
    rng: &mut SplitMix64,
) -> Result<Vec<TrainWindow>, ReaderTrainError> {
    let e = &examples[i];
    let specials = enc.special_ids();
    let (q, _) = enc.pieces(&e.question)?;
    let (pieces, spans) = cache.get(&e.context)?;
    let Some(ans) = pieces_covering(spans, e.answer.0, e.answer.1) else {
        return Ok(Vec::new());
    };
    let all = windows_of(specials, &q, pieces, spans, Some(ans), &cfg.span);
    let make = |(ids, start, end, valid): (Vec<u32>, u32, u32, Vec<bool>), kind| TrainWindow {
        ids,
        start,
        end,
        valid,
        example: i,
        kind,
    };
    let Some(pos) = all.iter().position(|w| w.1 != 0) else {
        return Ok(Vec::new());
    };
    let mut out = vec![make(all[pos].clone(), WindowKind::Answer)];
    if unit(rng) >= cfg.negative_rate {
        return Ok(out);
    }
    let others: Vec<usize> = (0..all.len()).filter(|&w| all[w].1 == 0).collect();
    // half the time another window of the passage (when it has one), else
    // another paragraph (falling back to another window)
    let coin = rng.next_u64() & 1 == 0;
    let para = if coin && !others.is_empty() {
        None
    } else {
        paragraphs.other(examples, e, rng)
    };
    if let Some(j) = para {
        let (p2, s2) = cache.get(&examples[j].context)?;
        let ws = windows_of(specials, &q, p2, s2, None, &cfg.span);
        let w = ws[rng.below(ws.len())].clone();
        out.push(make(w, WindowKind::OtherParagraph));
    } else if !others.is_empty() {
        let w = all[others[rng.below(others.len())]].clone();
        out.push(make(w, WindowKind::OtherWindow));
    }
    Ok(out)
}

/// Batches of similar length within pools of `16 × batch` windows; batch
/// order shuffled within each pool.
pub fn batches_of(windows: &[TrainWindow], batch: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut rng = SplitMix64::new(seed ^ 0xba7c_4e55);
    let mut out = Vec::new();
    let ids: Vec<usize> = (0..windows.len()).collect();
    for pool in ids.chunks(batch * 16) {
        let mut pool = pool.to_vec();
        pool.sort_by_key(|&i| windows[i].ids.len());
        let mut bs: Vec<Vec<usize>> = pool.chunks(batch).map(<[usize]>::to_vec).collect();
        rng.shuffle(&mut bs);
        out.extend(bs);
    }
    out
}

fn fingerprint(windows: &[TrainWindow], batches: &[Vec<usize>]) -> String {
    let mut acc: u64 = 0;
    for w in windows {
        let s = format!("{:?}{}{}{}", w.ids, w.start, w.end, w.example);
        acc = acc.rotate_left(7) ^ fnv(&s);
    }
    for b in batches {
        acc = acc.rotate_left(3) ^ fnv(&format!("{b:?}"));
    }
    format!("{:016x}-{}", acc, windows.len())
}

/// Splits examples into training and held-out (every `every`-th paragraph
/// by hash of its text, so no held-out passage is ever trained on).
pub fn split_by_paragraph(examples: &[ReaderExample], every: u64) -> (Vec<usize>, Vec<usize>) {
    let (mut tr, mut dv) = (Vec::new(), Vec::new());
    for (i, e) in examples.iter().enumerate() {
        if every > 0 && fnv(&e.context).is_multiple_of(every) {
            dv.push(i);
        } else {
            tr.push(i);
        }
    }
    (tr, dv)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(lang: &str, n: usize) -> ReaderExample {
        ReaderExample {
            id: format!("{lang}{n}"),
            question_lang: lang.into(),
            passage_lang: lang.into(),
            question: "q".into(),
            context: format!("ctx {lang} {n}"),
            title: "t".into(),
            answer: (0, 3),
        }
    }

    #[test]
    fn language_mix_follows_alpha_and_the_sampler_covers_each_language() {
        let mut exs: Vec<ReaderExample> = (0..400).map(|n| ex("en", n)).collect();
        exs.extend((0..100).map(|n| ex("ja", n)));
        let idx: Vec<usize> = (0..exs.len()).collect();
        let mix = language_mix(&exs, &idx, 0.5);
        assert_eq!(mix[0].lang, "en");
        assert!((mix[0].probability - 20.0 / 30.0).abs() < 1e-9);
        assert!((language_mix(&exs, &idx, 0.0)[1].probability - 0.5).abs() < 1e-9);
        let mut s = Sampler::new(&exs, &idx, &mix);
        let mut rng = SplitMix64::new(3);
        let mut ja = std::collections::HashSet::new();
        let mut n_ja = 0;
        for _ in 0..3000 {
            let (k, i) = s.draw(&mut rng);
            assert_eq!(exs[i].question_lang, mix[k].lang);
            if k == 1 {
                n_ja += 1;
                ja.insert(i);
            }
        }
        assert!((900..1100).contains(&n_ja), "{n_ja}");
        assert_eq!(
            ja.len(),
            100,
            "without replacement: every ja question drawn"
        );
    }

    #[test]
    fn paragraph_split_keeps_a_passage_on_one_side() {
        let mut exs: Vec<ReaderExample> = (0..300).map(|n| ex("en", n)).collect();
        exs.extend((0..300).map(|n| ex("en", n)));
        let (tr, dv) = split_by_paragraph(&exs, 10);
        assert!(!dv.is_empty() && tr.len() > dv.len());
        let held: std::collections::HashSet<&str> =
            dv.iter().map(|&i| exs[i].context.as_str()).collect();
        assert!(tr.iter().all(|&i| !held.contains(exs[i].context.as_str())));
    }
}
