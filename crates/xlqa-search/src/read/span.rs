//! The span reader: a short answer (name, date, number, phrase) read by the
//! trained extractive reader, carried into the question's language through
//! a linked passage (same `group`) when it was found in another language.

use xlqa_core::{Lang, Passage};
use xlqa_models::span::{ReaderMeta, SpanAnswer, SpanReader};
use xlqa_models::{Encoder, EncoderOptions, Precision};

use super::{answer_in, top_passages, LoadContext, ReadInput, ReadOutcome, Reader};
use crate::answer::{Answer, AskOptions, ProjectedFrom, SpanEvidence};
use crate::corpus::Corpus;
use crate::fusion::FusedHit;
use crate::SearchError;

/// `--reader span`.
pub struct Span {
    reader: SpanReader,
}

/// The chosen span: its score, its index in the top passages, the span.
type Chosen = (f32, usize, SpanAnswer);

impl Span {
    /// Loads the reader in `ctx.span_dir` on an encoder of the precision it
    /// was trained with.
    pub fn load(ctx: &LoadContext<'_>) -> Result<Span, SearchError> {
        let dir = &ctx.span_dir;
        let meta_path = dir.join("reader.json");
        let bad = |m: String| SearchError::Input(format!("{}: {m}", meta_path.display()));
        if !meta_path.exists() {
            return Err(SearchError::Input(format!(
                "no span reader at {}: pass --reader-dir DIR, set XLQA_READER, or train one with `xlqa train reader --out DIR`",
                dir.display()
            )));
        }
        let text = std::fs::read_to_string(&meta_path).map_err(|e| bad(e.to_string()))?;
        let meta: ReaderMeta = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let precision: Precision = meta.lower_precision.parse().map_err(bad)?;
        let enc = Encoder::load(
            ctx.home,
            EncoderOptions {
                precision,
                ..EncoderOptions::default()
            },
        )?;
        Ok(Span {
            reader: SpanReader::load(dir, enc, ctx.span_exact)?,
        })
    }

    /// Wraps a reader already loaded.
    pub fn new(reader: SpanReader) -> Span {
        Span { reader }
    }

    pub fn reader(&self) -> &SpanReader {
        &self.reader
    }

    pub fn into_reader(self) -> SpanReader {
        self.reader
    }

    /// The best span over the top passages, spans compared by the reader's
    /// calibration (or the span score plus the relative retrieval score).
    fn best_over_passages(
        &self,
        q: &str,
        top: &[(&FusedHit, &Passage)],
        opts: &AskOptions,
    ) -> Result<Option<Chosen>, SearchError> {
        let texts: Vec<&str> = top.iter().map(|(_, p)| p.text.as_str()).collect();
        let spans = self.reader.read(q, &texts)?;
        let best_retrieval = top[0].0.score.max(f32::MIN_POSITIVE);
        let cal = self.reader.meta().calibration;
        let mut best: Option<Chosen> = None;
        for (k, s) in spans.into_iter().enumerate() {
            let Some(s) = s.filter(|s| !s.text.is_empty()) else {
                continue;
            };
            let score = match cal {
                Some(c) => c.score(s.score, s.null_score, k + 1),
                None => {
                    s.score
                        + opts.retrieval_weight * (top[k].0.score / best_retrieval).clamp(0.0, 1.0)
                }
            };
            if best.as_ref().is_none_or(|b| score > b.0) {
                best = Some((score, k, s));
            }
        }
        Ok(best)
    }

    /// Evidence chosen as the sentence reader does, then the span read out
    /// of that sentence (offsets in the passage).
    fn best_in_sentence(
        &self,
        corpus: &Corpus,
        q: &str,
        qe: &[f32],
        top: &[(&FusedHit, &Passage)],
        opts: &AskOptions,
    ) -> Result<Option<Chosen>, SearchError> {
        let rows: Vec<(u32, &Passage)> = top.iter().map(|(h, p)| (h.passage, *p)).collect();
        let Some(sent) = corpus.evidence_sentence(qe, &rows, opts.context_weight)? else {
            return Ok(None);
        };
        let Some(k) = top.iter().position(|(h, _)| h.passage == sent.passage) else {
            return Ok(None);
        };
        let Some(Some(mut s)) = self.reader.read(q, &[sent.text.as_str()])?.pop() else {
            return Ok(None);
        };
        s.start += sent.start;
        s.end += sent.start;
        Ok(Some((s.score, k, s)))
    }
}

impl Reader for Span {
    fn name(&self) -> &'static str {
        "span"
    }

    fn needs_vector(&self, opts: &AskOptions) -> bool {
        opts.span_evidence == SpanEvidence::Sentence
    }

    fn read(&self, corpus: &Corpus, input: &ReadInput<'_>) -> Result<ReadOutcome, SearchError> {
        let opts = input.opts;
        let top = top_passages(corpus, input.hits, opts.read_top);
        if top.is_empty() {
            return Ok(ReadOutcome::none("no passage matched the question"));
        }
        let q = input.question.question.as_str();
        let best = match (opts.span_evidence, input.vector) {
            (SpanEvidence::Sentence, Some(qe)) => {
                self.best_in_sentence(corpus, q, qe, &top, opts)?
            }
            _ => self.best_over_passages(q, &top, opts)?,
        };
        let Some((score, k, s)) = best else {
            return Ok(ReadOutcome::none(
                "the span reader found no answer in the retrieved passages",
            ));
        };
        let (hit, p) = top[k];
        let mut ans = answer_in(p, s.text.clone(), self.name(), score, input.lang);
        ans.no_answer_score = Some(s.null_score);
        let doubt = (s.null_score > s.score).then(|| {
            format!(
                "the reader's no-answer score ({:.2}) is above the answer's ({:.2}): the passages may not answer the question",
                s.null_score, s.score
            )
        });
        if p.lang == *input.lang {
            return Ok(ReadOutcome {
                answer: Some(ans),
                note: doubt,
            });
        }
        carry_over(
            corpus,
            ans,
            (hit.passage, p),
            &s,
            input.lang,
            opts.project,
            doubt,
        )
    }
}

/// An answer found in another language: carried into the linked passage in
/// the question's language when there is one and the span aligns, else
/// returned as it is with a note that says why.
fn carry_over(
    corpus: &Corpus,
    mut ans: Answer,
    (row, p): (u32, &Passage),
    s: &SpanAnswer,
    qlang: &Lang,
    project: bool,
    doubt: Option<String>,
) -> Result<ReadOutcome, SearchError> {
    let linked = if project {
        corpus.linked_passage(row, qlang)
    } else {
        None
    };
    if let Some(lp) = linked.and_then(|r| corpus.index.store.get(r)) {
        let proj = xlqa_models::align::project_span(
            corpus.encoder(),
            &p.text,
            (s.start, s.end),
            &lp.text,
        )?;
        if let Some(pr) = proj {
            let text = lp.text[pr.start..pr.end].trim().to_string();
            if !text.is_empty() {
                ans.projected_from = Some(ProjectedFrom {
                    text: ans.text.clone(),
                    lang: p.lang.clone(),
                    passage_id: p.id.clone(),
                    method: pr.method,
                });
                ans.text = text;
                ans.lang = lp.lang.clone();
                ans.cross_lingual = false;
                ans.passage_id = lp.id.clone();
                ans.doc_id = lp.doc_id.clone();
                ans.title = lp.title.clone();
                return Ok(ReadOutcome {
                    answer: Some(ans),
                    note: doubt,
                });
            }
        }
        let note = format!(
            "the answer was found in another language, {} ({}); the linked {} passage {} holds no aligned span, so it is given in {}",
            p.lang, p.id, qlang, lp.id, p.lang
        );
        return Ok(ReadOutcome {
            answer: Some(ans),
            note: Some(note),
        });
    }
    let mut note = format!(
        "the answer is in another language, {} (passage {}), than the question's ({}): no passage in {} is linked to it",
        p.lang, p.id, qlang, qlang
    );
    if let Some(d) = doubt {
        note = format!("{note}; {d}");
    }
    Ok(ReadOutcome {
        answer: Some(ans),
        note: Some(note),
    })
}
