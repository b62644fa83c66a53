//! The OpenAPI document served at `/openapi.json`, generated from the
//! request and response types (utoipa).

use serde_json::{json, Value};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api::Capabilities;
use crate::limits::Limits;

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
        crate::documents::add,
        crate::documents::get,
        crate::documents::delete,
    ),
    components(schemas(crate::error::ErrorBody, crate::error::ErrorDetail, crate::error::EntryProblem)),
    modifiers(&Security)
)]
pub struct ApiDoc;

/// The document as this server serves it: the static one with the limits
/// and names only known at start-up filled in (question length, batch
/// size, the loaded readers, the retrievers a weight may name), so a client
/// generated from it sends only what the server takes.
pub fn document(limits: &Limits, caps: &Capabilities) -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or(Value::Null);
    let schemas = &mut doc["components"]["schemas"];
    let ask = &mut schemas["AskRequest"]["properties"];
    let q = &mut ask["question"];
    q["minLength"] = json!(1);
    q["maxLength"] = json!(limits.max_question_chars);
    q["pattern"] = json!("\\S");
    let mut readers: Vec<Value> = caps.readers.iter().map(|r| json!(r)).collect();
    readers.extend([json!("none"), Value::Null]);
    ask["reader"]["enum"] = Value::Array(readers);
    let weight = json!({"type": "number", "minimum": 0, "maximum": 1000});
    let props: serde_json::Map<String, Value> = caps
        .retrievers
        .iter()
        .map(|r| (r.to_string(), weight.clone()))
        .collect();
    ask["weights"] = json!({
        "type": ["object", "null"],
        "description": "Fusion weight per retriever name (default 1 each)",
        "properties": props,
        "additionalProperties": false,
    });
    let batch = &mut schemas["BatchRequest"]["properties"]["questions"];
    batch["minItems"] = json!(1);
    batch["maxItems"] = json!(limits.max_batch);
    doc
}

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
        for p in ["/v1/ask", "/v1/ask/batch"] {
            let r = &doc["paths"][p]["post"]["responses"];
            for code in [
                "200", "400", "401", "413", "415", "422", "500", "503", "504",
            ] {
                assert!(r.get(code).is_some(), "{p} {code} undocumented");
            }
            let body = &r["503"]["content"]["application/json"]["schema"]["$ref"];
            assert_eq!(body, "#/components/schemas/ErrorBody", "{p}");
        }
        for p in ["/v1/documents", "/v1/documents/{id}"] {
            assert!(doc["paths"].get(p).is_some(), "{p} missing");
        }
    }

    #[test]
    fn the_served_document_carries_the_servers_limits_and_readers() {
        let caps = Capabilities {
            readers: vec!["span"],
            retrievers: vec!["dense", "bm25"],
        };
        let limits = Limits {
            max_question_chars: 123,
            max_batch: 7,
            ..Limits::default()
        };
        let doc = document(&limits, &caps);
        let ask = &doc["components"]["schemas"]["AskRequest"]["properties"];
        assert_eq!(ask["question"]["maxLength"], 123);
        assert_eq!(ask["reader"]["enum"], json!(["span", "none", null]));
        assert_eq!(ask["weights"]["properties"]["bm25"]["maximum"], 1000);
        assert_eq!(ask["k"]["maximum"], 100);
        let q = &doc["components"]["schemas"]["BatchRequest"]["properties"]["questions"];
        assert_eq!(q["maxItems"], 7);
    }
}
