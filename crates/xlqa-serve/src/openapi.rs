//! The OpenAPI document served at `/openapi.json`, generated from the
//! request and response types (utoipa).

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// `/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "xlqa",
        description = "Cross-lingual open-retrieval question answering: ask in any language, \
get a short answer read from passages in any language, brought back in the question's \
language where the collection links it. Every error is JSON naming the problem \
(`code`, `message`, `field`). A server bound beyond loopback needs an API key on every \
request but `/v1/health`."
    ),
    paths(
        crate::routes::ask,
        crate::routes::ask_batch,
        crate::routes::index,
        crate::routes::health,
        crate::routes::metrics,
    ),
    components(schemas(crate::error::ErrorBody, crate::error::ErrorDetail)),
    modifiers(&Security)
)]
pub struct ApiDoc;

/// The two ways to send the API key.
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let c = doc.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        c.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_names_every_endpoint_and_the_answer_schema() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        for p in [
            "/v1/ask",
            "/v1/ask/batch",
            "/v1/index",
            "/v1/health",
            "/v1/metrics",
        ] {
            assert!(doc["paths"].get(p).is_some(), "{p} missing");
        }
        let schemas = &doc["components"]["schemas"];
        for s in [
            "AskRequest",
            "AskResult",
            "Answer",
            "RetrievedPassage",
            "ErrorBody",
        ] {
            assert!(schemas.get(s).is_some(), "schema {s} missing");
        }
    }
}
