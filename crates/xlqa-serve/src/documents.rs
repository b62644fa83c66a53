//! `POST /v1/documents`, `GET` and `DELETE /v1/documents/{id}`: live
//! updates of the served index (the engine's `update_documents`: language
//! ID, chunking, encoding, de-biasing, then the index's crash-safe commit).
//! A batch is all or nothing: every bad entry is listed and none is
//! applied. An acknowledged (2xx) change survives `kill -9` of the server.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderMap;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use xlqa_core::Passage;
use xlqa_index::IndexError;
use xlqa_search::{DocumentsReport, SearchError};

use crate::error::ApiError;
use crate::routes::App;

/// One document of a batch, as `xlqa index` reads it (the BEIR form
/// `{"_id", "title", "text"}` is accepted too). Documents are parsed by
/// `xlqa_core::parse_documents`; this type only describes them.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DocumentInput {
    /// Unique within the index; an id the index holds is replaced.
    #[schema(min_length = 1, pattern = "\\S")]
    id: String,
    title: Option<String>,
    /// The text; a document shorter than the index's minimum passage
    /// length (`min_tokens` word-pieces) is refused with the whole batch.
    #[schema(min_length = 1, pattern = "\\S")]
    text: String,
    /// Detected when absent.
    lang: Option<xlqa_core::Lang>,
    /// Documents that say the same thing in several languages share a group.
    group: Option<String>,
}

/// The body forms a document batch may take.
#[derive(Clone, Copy, PartialEq)]
enum Form {
    JsonArray,
    Jsonl,
}

fn form(headers: &HeaderMap) -> Result<Form, ApiError> {
    let ct = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => Ok(Form::JsonArray),
        "application/x-ndjson"
        | "application/jsonl"
        | "application/jsonlines"
        | "application/json-lines" => Ok(Form::Jsonl),
        _ => Err(ApiError::unsupported_media_type(format!(
            "send documents as application/json (an array) or application/x-ndjson (JSONL), got {}",
            if ct.is_empty() { "none" } else { ct }
        ))),
    }
}

/// What went wrong in an update, as the client should see it.
fn update_error(e: SearchError) -> ApiError {
    match e {
        SearchError::Index(IndexError::Conflict(m)) => ApiError::conflict(m),
        SearchError::Input(m) => ApiError::invalid_field("documents", m),
        e @ SearchError::UndetectableLanguage { .. } => {
            ApiError::invalid_field("documents", e.to_string())
        }
        other => ApiError::internal(&format!("update: {other}")),
    }
}

/// Runs an update: one at a time (so a waiting update holds no model
/// worker), then on a worker like any model work.
async fn run_update(
    app: &App,
    add: Vec<xlqa_core::Document>,
    delete: Vec<String>,
) -> Result<DocumentsReport, ApiError> {
    let _one = app.updates.lock().await;
    let engine = app.engine.clone();
    app.gate
        .run_within(app.limits.update_timeout, move || {
            engine.update_documents(add, delete)
        })
        .await?
        .map_err(update_error)
}

/// Add or replace documents (same schema as `xlqa index`).
#[utoipa::path(post, path = "/v1/documents",
    request_body(content(
        (Vec<DocumentInput> = "application/json"),
        (String = "application/x-ndjson"),
    ), description = "Documents {\"id\", \"title\"?, \"text\", \"lang\"?, \"group\"?} (or BEIR {\"_id\", \"title\", \"text\"}): a JSON array, or JSONL"),
    responses(
        (status = 200, description = "Applied and durable; visible to the next question", body = DocumentsReport),
        (status = 400, description = "The body is not UTF-8", body = crate::error::ErrorBody),
        (status = 401, description = "The server needs an API key", body = crate::error::ErrorBody),
        (status = 409, description = "Another writer holds the index", body = crate::error::ErrorBody),
        (status = 413, description = "The body is over the documents limit", body = crate::error::ErrorBody),
        (status = 415, description = "Not sent as application/json or application/x-ndjson", body = crate::error::ErrorBody),
        (status = 422, description = "Bad entries, each listed in `problems`; none applied", body = crate::error::ErrorBody),
        (status = 503, description = "Busy: retry after the Retry-After header's seconds", body = crate::error::ErrorBody),
        (status = 504, description = "Over the update time limit: the update goes on and may still be applied; check with GET /v1/documents/{id}", body = crate::error::ErrorBody),
    ))]
pub(crate) async fn add(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<DocumentsReport>, ApiError> {
    let form = form(&headers)?;
    let limit = app.limits.max_documents_bytes;
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::payload_too_large(limit))?;
    let text = String::from_utf8(bytes.to_vec()).map_err(|e| {
        ApiError::invalid_json(
            None,
            format!(
                "the body is not UTF-8 (at byte {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })?;
    if form == Form::JsonArray && !text.trim_start().starts_with('[') {
        return Err(ApiError::invalid_field(
            "documents",
            "a JSON body is an array of documents; send one document per line as application/x-ndjson",
        ));
    }
    let docs = xlqa_core::parse_documents(&text).map_err(ApiError::bad_documents)?;
    Ok(Json(run_update(&app, docs, Vec::new()).await?))
}

/// A document's live passages.
#[derive(Serialize, ToSchema)]
pub struct DocumentPassages {
    pub id: String,
    pub passages: Vec<Passage>,
}

/// The passages the index holds for a document.
#[utoipa::path(get, path = "/v1/documents/{id}", params(("id" = String, Path, description = "Document id")),
    responses(
        (status = 200, body = DocumentPassages),
        (status = 401, description = "The server needs an API key", body = crate::error::ErrorBody),
        (status = 404, description = "No such document", body = crate::error::ErrorBody),
    ))]
pub(crate) async fn get(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<DocumentPassages>, ApiError> {
    let engine = app.engine.clone();
    let key = id.clone();
    // the read lock may wait for an update: not on an async worker
    let found = tokio::task::spawn_blocking(move || engine.document(&key))
        .await
        .map_err(|e| ApiError::internal(&format!("document lookup: {e}")))?;
    let passages = found.ok_or_else(|| ApiError::no_document(&id))?;
    Ok(Json(DocumentPassages { id, passages }))
}

/// Delete a document.
#[utoipa::path(delete, path = "/v1/documents/{id}", params(("id" = String, Path, description = "Document id")),
    responses(
        (status = 200, description = "Deleted, durably", body = DocumentsReport),
        (status = 401, description = "The server needs an API key", body = crate::error::ErrorBody),
        (status = 404, description = "No such document", body = crate::error::ErrorBody),
        (status = 409, description = "Another writer holds the index", body = crate::error::ErrorBody),
        (status = 503, description = "Busy: retry after the Retry-After header's seconds", body = crate::error::ErrorBody),
    ))]
pub(crate) async fn delete(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<DocumentsReport>, ApiError> {
    let r = run_update(&app, Vec::new(), vec![id.clone()]).await?;
    if !r.index.not_found.is_empty() {
        return Err(ApiError::no_document(&id));
    }
    Ok(Json(r))
}
