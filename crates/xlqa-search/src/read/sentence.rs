//! The sentence reader: the answer is the sentence of the top passages
//! closest to the question in the shared embedding space (LAReQA-style).

use super::{answer_in, top_passages, ReadInput, ReadOutcome, Reader};
use crate::answer::AskOptions;
use crate::corpus::Corpus;
use crate::SearchError;

/// `--reader sentence`.
pub struct Sentence;

impl Reader for Sentence {
    fn name(&self) -> &'static str {
        "sentence"
    }

    fn needs_vector(&self, _opts: &AskOptions) -> bool {
        true
    }

    fn read(&self, corpus: &Corpus, input: &ReadInput<'_>) -> Result<ReadOutcome, SearchError> {
        let top: Vec<(u32, &xlqa_core::Passage)> =
            top_passages(corpus, input.hits, input.opts.read_top)
                .into_iter()
                .map(|(h, p)| (h.passage, p))
                .collect();
        let none = || {
            ReadOutcome::none(if input.hits.is_empty() {
                "no passage matched the question"
            } else {
                "the retrieved passages hold no sentence to answer with"
            })
        };
        let Some(qe) = input.vector else {
            return Ok(none());
        };
        let Some(s) = corpus.evidence_sentence(qe, &top, input.opts.context_weight)? else {
            return Ok(none());
        };
        let Some(p) = corpus.index.store.get(s.passage) else {
            return Ok(none());
        };
        let qlang = input.lang;
        let note = (p.lang != *qlang).then(|| {
            format!(
                "the answer is in {} but the question is in {}: the evidence for it is in another language, and the sentence reader cannot give it in {} (the span reader can, through linked passages)",
                p.lang, qlang, qlang
            )
        });
        Ok(ReadOutcome {
            answer: Some(answer_in(p, s.text, self.name(), s.score, qlang)),
            note,
        })
    }
}
