//! The router: endpoints, the API-key check, request metrics, JSON errors
//! for unknown paths and methods, and a panic guard.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;
use xlqa_search::{AskResult, Engine, SearchError};

use crate::api::{AskRequest, BatchRequest, BatchResponse, Capabilities};
use crate::body::JsonBody;
use crate::error::{ApiError, ErrorBody};
use crate::limits::{panic_message, Gate, Limits};
use crate::metrics::Metrics;
use crate::summary::IndexSummary;

/// Everything a request handler needs.
pub struct App {
    pub engine: Arc<Engine>,
    pub limits: Limits,
    pub gate: Gate,
    pub metrics: Metrics,
    /// When set, every request but health and the page must carry it.
    pub api_key: Option<String>,
    pub index_path: std::path::PathBuf,
    pub caps: Capabilities,
    /// One document update at a time (documents.rs).
    pub updates: tokio::sync::Mutex<()>,
}

impl App {
    pub fn new(
        engine: Engine,
        index_path: &std::path::Path,
        limits: Limits,
        api_key: Option<String>,
    ) -> App {
        let caps = Capabilities {
            readers: engine.readers(),
            retrievers: engine.retrievers(),
        };
        App {
            engine: Arc::new(engine),
            gate: Gate::new(&limits),
            limits,
            metrics: Metrics::new(),
            api_key,
            index_path: index_path.to_path_buf(),
            caps,
            updates: tokio::sync::Mutex::new(()),
        }
    }

    /// The index as it stands now (live updates change it).
    pub fn summary(&self) -> IndexSummary {
        let refit = self.engine.refit_due();
        IndexSummary::new(
            &self.index_path,
            &self.engine.index().manifest,
            &self.caps,
            refit,
        )
    }
}

/// The whole API and the page.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/openapi.json", get(openapi))
        .route("/v1/ask", post(ask))
        .route("/v1/ask/batch", post(ask_batch))
        .route("/v1/index", get(index))
        .route("/v1/documents", post(crate::documents::add))
        .route(
            "/v1/documents/{id}",
            get(crate::documents::get).delete(crate::documents::delete),
        )
        .route("/v1/health", get(health))
        .route("/v1/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(app.clone(), check_key))
        .layer(middleware::from_fn_with_state(app.clone(), record))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(on_panic))
        .with_state(app)
}

/// A panic outside the model workers (those are caught by the gate).
fn on_panic(p: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::internal(&format!("panic in a request handler: {}", panic_message(p))).into_response()
}

async fn not_found(req: Request) -> ApiError {
    ApiError::not_found(req.uri().path())
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

/// Counts every request by endpoint (the route, not the raw path) and status.
async fn record(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let endpoint = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| m.as_str())
        .to_string();
    let t = Instant::now();
    let r = next.run(req).await;
    app.metrics
        .request(&endpoint, r.status().as_u16(), t.elapsed().as_secs_f64());
    r
}

/// Paths open without a key: the health check and the page (which holds no data).
fn is_open(path: &str) -> bool {
    path == "/v1/health" || path == "/"
}

/// Byte comparison whose time does not depend on where the inputs differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn presented_key(h: &HeaderMap) -> Option<&str> {
    if let Some(v) = h.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(v);
    }
    h.get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

async fn check_key(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    if let Some(key) = &app.api_key {
        let ok =
            presented_key(req.headers()).is_some_and(|k| same_secret(k.as_bytes(), key.as_bytes()));
        if !ok && !is_open(req.uri().path()) {
            return ApiError::unauthorized().into_response();
        }
    }
    next.run(req).await
}

fn engine_error(e: SearchError) -> ApiError {
    match e {
        SearchError::Input(m) => ApiError::engine(m),
        e @ SearchError::UndetectableLanguage { .. } => {
            ApiError::invalid_field("lang", e.to_string())
        }
        other => ApiError::internal(&format!("engine: {other}")),
    }
}

/// The error answers of the question endpoints.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // describes responses; never built
enum AskErrors {
    #[response(status = 400, description = "The body is not JSON")]
    NotJson(ErrorBody),
    #[response(status = 401, description = "The server needs an API key")]
    Unauthorized(ErrorBody),
    #[response(status = 413, description = "The body is over the size limit")]
    TooLarge(ErrorBody),
    #[response(status = 415, description = "The body is not sent as application/json")]
    MediaType(ErrorBody),
    #[response(
        status = 422,
        description = "A field has a value the server does not take (`field` names it)"
    )]
    Invalid(ErrorBody),
    #[response(
        status = 500,
        description = "Internal error, logged under the returned id"
    )]
    Internal(ErrorBody),
    #[response(
        status = 503,
        description = "Busy: retry after the Retry-After header's seconds"
    )]
    Busy(ErrorBody),
    #[response(
        status = 504,
        description = "The answer took longer than the server's limit"
    )]
    Timeout(ErrorBody),
}

/// Answer one question.
#[utoipa::path(post, path = "/v1/ask", request_body = AskRequest,
    responses(
        (status = 200, description = "The answer and its evidence, as `xlqa ask --json`", body = AskResult),
        AskErrors,
    ))]
pub(crate) async fn ask(
    State(app): State<Arc<App>>,
    JsonBody(req): JsonBody<AskRequest>,
) -> Result<Json<AskResult>, ApiError> {
    let (q, opts) = req.check("", &app.limits, &app.caps)?;
    let engine = app.engine.clone();
    let r = app
        .gate
        .run(move || engine.ask(&q, &opts))
        .await?
        .map_err(engine_error)?;
    app.metrics.answered(&r.timings);
    Ok(Json(r))
}

/// Answer many questions (checked together, answered in order).
#[utoipa::path(post, path = "/v1/ask/batch", request_body = BatchRequest,
    responses(
        (status = 200, description = "One result per question, in order", body = BatchResponse),
        AskErrors,
    ))]
pub(crate) async fn ask_batch(
    State(app): State<Arc<App>>,
    JsonBody(req): JsonBody<BatchRequest>,
) -> Result<Json<BatchResponse>, ApiError> {
    let checked = req.check(&app.limits, &app.caps)?;
    let engine = app.engine.clone();
    let results = app
        .gate
        .run(move || {
            checked
                .iter()
                .map(|(q, o)| engine.ask(q, o))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?
        .map_err(engine_error)?;
    for r in &results {
        app.metrics.answered(&r.timings);
    }
    Ok(Json(BatchResponse { results }))
}

/// The served index: languages, counts, encoder, analyzers, de-biasing, readers.
#[utoipa::path(get, path = "/v1/index", responses(
    (status = 200, body = IndexSummary),
    (status = 401, description = "The server needs an API key", body = crate::error::ErrorBody),
))]
pub(crate) async fn index(State(app): State<Arc<App>>) -> Result<Json<IndexSummary>, ApiError> {
    // the read lock may wait for an update: not on an async worker
    tokio::task::spawn_blocking(move || Json(app.summary()))
        .await
        .map_err(|e| ApiError::internal(&format!("index summary: {e}")))
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` while the server answers.
    pub status: &'static str,
    pub version: &'static str,
}

/// Liveness (no API key needed).
#[utoipa::path(get, path = "/v1/health", responses((status = 200, body = Health)))]
pub(crate) async fn health() -> Json<Health> {
    // takes no lock: a liveness probe answers even while an update applies
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/v1/metrics", responses(
    (status = 200, content_type = "text/plain", body = String),
    (status = 401, description = "The server needs an API key", body = crate::error::ErrorBody),
))]
pub(crate) async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    let text = app
        .metrics
        .render(app.gate.queue_depth(), app.gate.in_flight());
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}

/// The web page.
async fn page() -> Html<&'static str> {
    Html(crate::page::INDEX_HTML)
}

/// This API's OpenAPI document, with this server's limits and readers.
async fn openapi(State(app): State<Arc<App>>) -> Json<serde_json::Value> {
    Json(crate::openapi::document(&app.limits, &app.caps))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
        assert!(!same_secret(b"", b"a"));
    }
}
