//! The request and response types of the API, and the checks that turn a
//! request into the engine's [`AskOptions`]. Defaults are those of
//! `xlqa ask`, so a request with only a question answers as the CLI does.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use xlqa_core::{Lang, Question};
use xlqa_search::{
    AskOptions, AskResult, FusionMethod, RetrieveOptions, RetrieverChoice, SpanEvidence,
};

use crate::error::ApiError;
use crate::limits::Limits;

/// Passages a request may ask for, at most.
pub const MAX_K: usize = 100;
/// Candidates per retriever, at most.
pub const MAX_DEPTH: usize = 1000;
/// Passages a reader may read, at most.
pub const MAX_READ_TOP: usize = 20;
/// Languages a request may exclude, at most.
const MAX_EXCLUDE: usize = 64;
/// Length of a question id, at most (characters).
const MAX_ID: usize = 200;

/// One question and how to answer it (`POST /v1/ask`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AskRequest {
    /// The question, in any language (not empty; at most the server's
    /// `max_question_chars` characters). Its language is detected unless
    /// `lang` is given; a question without letters (e.g. only digits)
    /// needs `lang` (422 otherwise).
    #[schema(example = "Wie hoch ist der Kilimandscharo?")]
    pub question: String,
    /// Echoed as the result's `id` (default `q1`, as `xlqa ask`).
    #[schema(min_length = 1, max_length = 200)]
    pub id: Option<String>,
    /// The question's language (default: detected).
    pub lang: Option<Lang>,
    /// Passages to return, 1 to 100 (default 5).
    #[schema(minimum = 1, maximum = 100)]
    #[serde(default, deserialize_with = "whole::opt")]
    pub k: Option<usize>,
    /// `dense`, `bm25` or `hybrid` (default: hybrid).
    pub retriever: Option<RetrieverChoice>,
    /// A reader the server loaded (`GET /v1/index` lists them) or `none`
    /// (default: span).
    pub reader: Option<String>,
    /// Never return passages in these languages.
    #[serde(default)]
    #[schema(max_items = 64)]
    pub exclude_lang: Vec<Lang>,
    /// Never return passages in the question's own language (given or detected).
    #[serde(default)]
    pub exclude_question_lang: bool,
    /// Passages the reader reads, 1 to 20 (default 5).
    #[schema(minimum = 1, maximum = 20)]
    #[serde(default, deserialize_with = "whole::opt")]
    pub read_top: Option<usize>,
    /// Candidates taken from each retriever before fusion, 1 to 1000 (default 100).
    #[schema(minimum = 1, maximum = 1000)]
    #[serde(default, deserialize_with = "whole::opt")]
    pub depth: Option<usize>,
    /// How ranked lists are fused (default: rrf).
    pub fusion: Option<FusionMethod>,
    /// Fusion weight per retriever name (default 1 each).
    pub weights: Option<BTreeMap<String, f32>>,
    /// Span reader: read spans over the top passages or in one evidence
    /// sentence (default: passages).
    pub span_evidence: Option<SpanEvidence>,
    /// Span reader: carry an answer found in another language into the
    /// linked passage in the question's language (default: true).
    pub project: Option<bool>,
}

/// Many questions, answered in one request (`POST /v1/ask/batch`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// 1 to the server's `max_batch` questions; each is checked before any
    /// is answered (one bad question fails the batch, naming it).
    pub questions: Vec<AskRequest>,
}

/// The answers of a batch, in the order asked.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResponse {
    pub results: Vec<AskResult>,
}

/// Whole numbers as JSON Schema counts them: `5` and also `5.0`.
mod whole {
    use serde::de::{Deserializer, Error, Unexpected, Visitor};
    use std::fmt;

    struct Whole;

    impl<'de> Visitor<'de> for Whole {
        type Value = Option<usize>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a whole number")
        }
        fn visit_none<E: Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(Whole)
        }
        fn visit_u64<E: Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(usize::try_from(v).unwrap_or(usize::MAX)))
        }
        fn visit_i64<E: Error>(self, v: i64) -> Result<Self::Value, E> {
            usize::try_from(v).map(Some).map_err(|_| {
                E::invalid_value(Unexpected::Signed(v), &"a whole number of at least 1")
            })
        }
        fn visit_f64<E: Error>(self, v: f64) -> Result<Self::Value, E> {
            if v.fract() == 0.0 && (0.0..=1e15).contains(&v) {
                Ok(Some(v as usize))
            } else {
                Err(E::invalid_value(Unexpected::Float(v), &self))
            }
        }
    }

    /// An optional whole number (absent or null: `None`).
    pub fn opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_option(Whole)
    }
}

/// What the engine can do, for checking requests.
pub struct Capabilities {
    pub readers: Vec<&'static str>,
    pub retrievers: Vec<&'static str>,
}

fn field(prefix: &str, name: &str) -> String {
    format!("{prefix}{name}")
}

/// `v` when it lies in `1..=max`.
fn in_range(v: Option<usize>, default: usize, max: usize, name: String) -> Result<usize, ApiError> {
    let v = v.unwrap_or(default);
    if v == 0 || v > max {
        return Err(ApiError::invalid_field(
            name.clone(),
            format!("{name} is {v}; it must be between 1 and {max}"),
        ));
    }
    Ok(v)
}

impl AskRequest {
    /// The question and the engine's options, or the first field at fault
    /// (`prefix` names the request inside a batch, e.g. `questions[2].`).
    pub fn check(
        &self,
        prefix: &str,
        limits: &Limits,
        caps: &Capabilities,
    ) -> Result<(Question, AskOptions), ApiError> {
        let q = self.question(prefix, limits)?;
        let d = AskOptions::default();
        let retrieve = RetrieveOptions {
            retriever: self
                .retriever
                .clone()
                .unwrap_or(d.retrieve.retriever.clone()),
            k: in_range(self.k, d.retrieve.k, MAX_K, field(prefix, "k"))?,
            depth: in_range(
                self.depth,
                d.retrieve.depth,
                MAX_DEPTH,
                field(prefix, "depth"),
            )?,
            fusion: self.fusion.unwrap_or(d.retrieve.fusion),
            weights: self.weights(prefix, caps)?,
            exclude_langs: self.exclude(prefix)?,
            ..d.retrieve.clone()
        };
        let opts = AskOptions {
            retrieve,
            reader: self.reader(prefix, caps)?,
            read_top: in_range(
                self.read_top,
                d.read_top,
                MAX_READ_TOP,
                field(prefix, "read_top"),
            )?,
            lang: self.lang.clone(),
            span_evidence: self.span_evidence.unwrap_or(d.span_evidence),
            project: self.project.unwrap_or(d.project),
            exclude_question_lang: self.exclude_question_lang,
            ..d
        };
        Ok((q, opts))
    }

    fn question(&self, prefix: &str, limits: &Limits) -> Result<Question, ApiError> {
        let name = field(prefix, "question");
        if self.question.trim().is_empty() {
            return Err(ApiError::invalid_field(name, "the question is empty"));
        }
        let n = self.question.chars().count();
        if n > limits.max_question_chars {
            return Err(ApiError::invalid_field(
                name,
                format!(
                    "the question has {n} characters; this server takes at most {}",
                    limits.max_question_chars
                ),
            ));
        }
        let id = self.id.clone().unwrap_or_else(|| "q1".into());
        if id.is_empty() || id.chars().count() > MAX_ID {
            return Err(ApiError::invalid_field(
                field(prefix, "id"),
                format!("the id must have 1 to {MAX_ID} characters"),
            ));
        }
        Ok(Question {
            id,
            question: self.question.clone(),
            lang: None,
        })
    }

    fn reader(&self, prefix: &str, caps: &Capabilities) -> Result<String, ApiError> {
        let name = self
            .reader
            .clone()
            .unwrap_or_else(|| AskOptions::default().reader);
        if name == "none" || caps.readers.contains(&name.as_str()) {
            return Ok(name);
        }
        Err(ApiError::invalid_field(
            field(prefix, "reader"),
            format!(
                "unknown reader \"{name}\": this server has {} and none",
                caps.readers.join(", ")
            ),
        ))
    }

    fn weights(
        &self,
        prefix: &str,
        caps: &Capabilities,
    ) -> Result<BTreeMap<String, f32>, ApiError> {
        let Some(w) = &self.weights else {
            return Ok(BTreeMap::new());
        };
        for (name, v) in w {
            let f = field(prefix, &format!("weights.{name}"));
            if !caps.retrievers.contains(&name.as_str()) {
                return Err(ApiError::invalid_field(
                    f,
                    format!(
                        "unknown retriever \"{name}\": expected {}",
                        caps.retrievers.join(", ")
                    ),
                ));
            }
            if !v.is_finite() || *v < 0.0 || *v > 1000.0 {
                return Err(ApiError::invalid_field(
                    f,
                    format!("weight {v} must be between 0 and 1000"),
                ));
            }
        }
        Ok(w.clone())
    }

    fn exclude(&self, prefix: &str) -> Result<Vec<Lang>, ApiError> {
        if self.exclude_lang.len() > MAX_EXCLUDE {
            return Err(ApiError::invalid_field(
                field(prefix, "exclude_lang"),
                format!("at most {MAX_EXCLUDE} languages can be excluded"),
            ));
        }
        Ok(self.exclude_lang.clone())
    }
}

impl BatchRequest {
    /// Every question checked; the first one at fault fails the batch.
    pub fn check(
        &self,
        limits: &Limits,
        caps: &Capabilities,
    ) -> Result<Vec<(Question, AskOptions)>, ApiError> {
        let n = self.questions.len();
        if n == 0 || n > limits.max_batch {
            return Err(ApiError::invalid_field(
                "questions",
                format!("a batch has 1 to {} questions (got {n})", limits.max_batch),
            ));
        }
        self.questions
            .iter()
            .enumerate()
            .map(|(i, r)| r.check(&format!("questions[{i}]."), limits, caps))
            .collect()
    }
}
