//! Every error the API returns: a status and a JSON body that names the
//! problem (`{"error": {"code", "message", "field"?, "id"?}}`).

use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every non-2xx answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable kind: `invalid_json`, `invalid_field`,
    /// `unsupported_media_type`, `payload_too_large`, `unauthorized`,
    /// `not_found`, `method_not_allowed`, `overloaded`, `timeout`,
    /// `engine_error`, `internal`.
    pub code: &'static str,
    /// A sentence for people.
    pub message: String,
    /// The request field at fault, as a path (`k`, `questions[3].lang`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For `internal` errors: the id under which the server logged it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// For a document batch: every entry at fault (none of the batch was applied).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<EntryProblem>,
}

/// One bad entry of a document batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntryProblem {
    /// Line of JSONL or element of the JSON array, from 1 (0: the body as a whole).
    pub entry: usize,
    pub message: String,
}

/// An error on its way to becoming a response.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// Boxed: an `ApiError` travels in every `Result` of request checking.
    pub detail: Box<ErrorDetail>,
    /// Seconds, sent as `Retry-After` (503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            detail: Box::new(ErrorDetail {
                code,
                message: message.into(),
                field: None,
                id: None,
                problems: Vec::new(),
            }),
            retry_after: None,
        }
    }

    /// The body is not the JSON the endpoint takes (syntax, types, unknown fields).
    pub fn invalid_json(field: Option<String>, message: impl Into<String>) -> ApiError {
        let mut e = ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", message);
        // serde_path_to_error writes "." for the root and "?" where a syntax
        // error leaves the position unknown: neither names a field
        e.detail.field = field.filter(|f| !f.is_empty() && f != "." && !f.contains('?'));
        e
    }

    /// A well-formed field with a value the API does not accept.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        let mut e = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message);
        e.detail.field = Some(field.into());
        e
    }

    pub fn unsupported_media_type(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message,
        )
    }

    pub fn payload_too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is over the limit of {limit} bytes"),
        )
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this server needs an API key: send it as `Authorization: Bearer KEY` or `X-API-Key: KEY`",
        )
    }

    pub fn not_found(path: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no endpoint at {path}; the API is described at /openapi.json"),
        )
    }

    pub fn method_not_allowed() -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this endpoint does not take that method; see /openapi.json",
        )
    }

    /// The model queue is full or the wait for a worker ran out.
    pub fn overloaded(message: impl Into<String>, retry_after: u64) -> ApiError {
        let mut e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", message);
        e.retry_after = Some(retry_after);
        e
    }

    pub fn timeout(seconds: f64) -> ApiError {
        ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            format!("the answer took longer than the server's limit of {seconds:.1} s"),
        )
    }

    /// The engine refused the request (e.g. a reader that is not loaded).
    pub fn engine(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "engine_error", message)
    }

    /// A document batch with bad entries (all listed; nothing applied).
    pub fn bad_documents(problems: Vec<(usize, String)>) -> ApiError {
        let n = problems.len();
        let first = problems
            .first()
            .map(|(e, m)| format!("entry {e}: {m}"))
            .unwrap_or_default();
        let mut e = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_documents",
            format!("{n} bad entries in the document batch, none applied; the first: {first}"),
        );
        e.detail.problems = problems
            .into_iter()
            .map(|(entry, message)| EntryProblem { entry, message })
            .collect();
        e
    }

    /// The index is being changed by another writer or changed under this server.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// A document the index does not hold.
    pub fn no_document(id: &str) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("the index holds no document \"{id}\""),
        );
        e.detail.field = Some("id".into());
        e
    }

    /// Something broke inside the server; logged on stderr under a fresh id.
    pub fn internal(what: &str) -> ApiError {
        let id = next_error_id();
        eprintln!("error id={id}: {what}");
        let mut e = ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("internal error (logged by the server as {id})"),
        );
        e.detail.id = Some(id);
        e
    }
}

/// Ids that are unique within a server's life and differ between runs.
fn next_error_id() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("e{start:x}-{}", N.fetch_add(1, Ordering::Relaxed))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            axum::Json(ErrorBody {
                error: *self.detail,
            }),
        )
            .into_response();
        if let Some(s) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        r
    }
}
