//! What a question is asked with ([`AskOptions`]) and what comes back
//! ([`AskResult`]). Both are serde types: `ask --json` prints the
//! serialization of [`AskResult`], and a service takes [`AskOptions`] as JSON.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use xlqa_core::{Lang, LangSource, StageTimings};

use crate::fusion::Ranks;
use crate::retrieve::{RetrieveOptions, RetrieverChoice};

/// Where the span reader reads its span.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SpanEvidence {
    /// In the evidence sentence chosen as the sentence reader does.
    Sentence,
    /// Over the top passages, spans compared by their (calibrated) scores.
    Passages,
}

impl FromStr for SpanEvidence {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sentence" => Ok(SpanEvidence::Sentence),
            "passages" => Ok(SpanEvidence::Passages),
            other => Err(format!(
                "unknown span evidence \"{other}\": expected sentence or passages"
            )),
        }
    }
}

/// Settings for answering.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct AskOptions {
    pub retrieve: RetrieveOptions,
    /// A registered reader's name (`span`, `sentence`, `llm`) or `none`.
    pub reader: String,
    /// Passages the reader looks at.
    pub read_top: usize,
    /// The question's language, when the user states it.
    pub lang: Option<Lang>,
    /// Weight of the passage's similarity to the question in a sentence's
    /// score (0 = the sentence alone, as LAReQA's sentence candidates).
    pub context_weight: f32,
    /// Span reader without a calibration: weight of the passage's retrieval
    /// score (relative to the top passage's, in [0, 1]) added to the span's
    /// start+end logit.
    pub retrieval_weight: f32,
    /// Span reader: carry an answer found in another language into a linked
    /// passage (same `group`) in the question's language.
    pub project: bool,
    /// Span reader: where the span is read.
    pub span_evidence: SpanEvidence,
    /// Never return passages in the question's own language (given or
    /// detected): "answer me from the other languages".
    pub exclude_question_lang: bool,
}

impl Default for AskOptions {
    fn default() -> Self {
        AskOptions {
            retrieve: RetrieveOptions::default(),
            reader: "span".into(),
            read_top: 5,
            lang: None,
            context_weight: 0.5,
            retrieval_weight: 2.0,
            project: true,
            span_evidence: SpanEvidence::Passages,
            exclude_question_lang: false,
        }
    }
}

/// A retrieved passage as reported to the user.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetrievedPassage {
    pub rank: usize,
    pub id: String,
    pub doc_id: String,
    pub title: String,
    pub text: String,
    pub lang: Lang,
    pub score: f32,
    /// `<name>_rank` and `<name>_score` of every retriever that found it.
    #[serde(flatten)]
    pub ranks: Ranks,
}

/// The answer read from the evidence.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Answer {
    pub text: String,
    pub lang: Lang,
    /// True when the answer is in another language than the question.
    pub cross_lingual: bool,
    /// The reader's name.
    pub reader: String,
    pub score: f32,
    pub passage_id: String,
    pub doc_id: String,
    pub title: String,
    /// Span reader: the "no answer" score of the window the span came from
    /// (start+end logit of `<s>`); above the span's own logit sum, the reader
    /// thinks the passage does not answer the question.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_answer_score: Option<f32>,
    /// Set when the answer was carried from a passage in another language
    /// into the linked passage `passage_id` in the question's language.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub projected_from: Option<ProjectedFrom>,
}

/// Where a projected answer was read.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProjectedFrom {
    pub text: String,
    pub lang: Lang,
    pub passage_id: String,
    /// `identical` (same text in both), `alignment` (mutual-argmax token
    /// alignment) or `alignment-argmax` (each piece's best match).
    pub method: &'static str,
}

/// Everything known about one answered question.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AskResult {
    pub id: String,
    pub question: String,
    pub question_lang: Lang,
    pub question_lang_source: LangSource,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub question_lang_confidence: Option<f32>,
    pub retriever: RetrieverChoice,
    pub answer: Option<Answer>,
    /// Why the answer is missing or not in the question's language.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Things the caller should know about how the answer was found (e.g. a
    /// de-biasing fallback for a language the collection lacks).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    pub passages: Vec<RetrievedPassage>,
    pub timings: StageTimings,
}
