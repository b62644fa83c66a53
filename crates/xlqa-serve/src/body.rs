//! [`JsonBody`]: a JSON request body read under the server's size limit,
//! whose every failure names the problem (syntax with line and column, or
//! the field path and what it should have been).

use std::sync::Arc;

use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::routes::App;

/// A request body parsed as `T`.
pub struct JsonBody<T>(pub T);

/// Whether a Content-Type names JSON (`application/json`, `…+json`, any parameters).
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses `bytes` as `T`, keeping the path of the field at fault.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let message = if field == "." {
                    format!("{inner}")
                } else {
                    format!("{field}: {inner}")
                };
                let mut e = ApiError::invalid_field(field, message);
                e.detail.field = e.detail.field.filter(|f| f != ".");
                e
            }
            _ => {
                ApiError::invalid_json(Some(field), format!("the body is not valid JSON: {inner}"))
            }
        }
    })?;
    de.end()
        .map_err(|e| ApiError::invalid_json(None, format!("the body is not valid JSON: {e}")))?;
    Ok(v)
}

impl<T: DeserializeOwned> FromRequest<Arc<App>> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, app: &Arc<App>) -> Result<Self, ApiError> {
        let ct = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !is_json(ct) {
            return Err(ApiError::unsupported_media_type(format!(
                "send the body as Content-Type: application/json (got {})",
                if ct.is_empty() { "none" } else { ct }
            )));
        }
        let limit = app.limits.max_body_bytes;
        let bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|e| {
                if is_length_limit(&e) {
                    ApiError::payload_too_large(limit)
                } else {
                    ApiError::invalid_json(None, format!("cannot read the request body: {e}"))
                }
            })?;
        parse(&bytes).map(JsonBody)
    }
}

/// Whether reading a body failed because it was over the limit.
fn is_length_limit(e: &axum::Error) -> bool {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = src {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        src = s.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::is_json;

    #[test]
    fn json_content_types() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(is_json("application/problem+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json(""));
        assert!(!is_json("application/x-ndjson"));
    }
}
