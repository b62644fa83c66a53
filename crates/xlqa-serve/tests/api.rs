//! The API in process (router + real engine over the demo collection):
//! answers equal to the engine's, the index summary, metrics, the API key,
//! the worker limit, and a table of malformed requests that must each get a
//! 4xx with a JSON error naming the problem.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use xlqa_core::{Question, ReadOptions};
use xlqa_models::ModelHome;
use xlqa_search::{AskOptions, EncoderChoice, Engine, EngineBuilder, IndexOptions};
use xlqa_serve::{App, Limits};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn index_dir() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, p) = DIR.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("idx");
        let home = ModelHome::from_env().unwrap();
        let enc = xlqa_search::builder::load_encoder(&home, &EncoderChoice::default()).unwrap();
        let langid = xlqa_search::builder::load_langid(&home).unwrap();
        let (docs, _) = xlqa_core::read_collection(
            &repo().join("data/demo/collection.jsonl"),
            &ReadOptions::default(),
        )
        .unwrap();
        let opts = IndexOptions {
            progress: false,
            ..IndexOptions::default()
        };
        xlqa_search::build_index(docs, &enc, &langid, &out, &opts).unwrap();
        (tmp, out)
    });
    p
}

fn engine() -> Engine {
    EngineBuilder::new(index_dir())
        .home(ModelHome::from_env().unwrap())
        .reader("span")
        .reader("sentence")
        .build()
        .unwrap()
}

fn app_with(limits: Limits, key: Option<&str>) -> Arc<App> {
    Arc::new(App::new(
        engine(),
        index_dir(),
        limits,
        key.map(String::from),
    ))
}

/// One app for the tests that do not change limits or keys.
fn shared() -> Arc<App> {
    static A: OnceLock<Arc<App>> = OnceLock::new();
    A.get_or_init(|| app_with(Limits::default(), None)).clone()
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

async fn send(router: Router, req: Request<Body>) -> Reply {
    let r = router.oneshot(req).await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    let body = r.into_body().collect().await.unwrap().to_bytes().to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

fn post(path: &str, body: impl Into<Vec<u8>>) -> Request<Body> {
    Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body.into()))
        .unwrap()
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

/// The result without its timings (they differ between runs).
fn untimed(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("timings");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_answers_as_the_engine_does() {
    let app = shared();
    let q = "Wer hat die koreanische Schrift Hangul geschaffen?";
    let r = send(
        xlqa_serve::router(app.clone()),
        post("/v1/ask", json!({"question": q}).to_string()),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let direct = app
        .engine
        .ask(
            &Question {
                id: "q1".into(),
                question: q.into(),
                lang: None,
            },
            &AskOptions::default(),
        )
        .unwrap();
    // compared as the text a client reads (f32 numbers printed shortest)
    let direct: Value = serde_json::from_str(&serde_json::to_string(&direct).unwrap()).unwrap();
    assert_eq!(untimed(r.json()), untimed(direct));
    let v = r.json();
    assert_eq!(v["question_lang"], "de");
    assert!(
        v["answer"]["text"].as_str().is_some_and(|t| !t.is_empty()),
        "{v}"
    );
    assert_eq!(v["passages"].as_array().unwrap().len(), 5);
    assert!(
        v["passages"][0].get("dense_rank").is_some() || v["passages"][0].get("bm25_rank").is_some()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_reach_the_engine() {
    // 3.0 is a whole number to JSON Schema, so the API takes it
    let body = json!({"question": "¿Cuándo se inauguró el puente?", "k": 3.0, "retriever": "bm25",
        "reader": "sentence", "exclude_question_lang": true, "id": "mine"});
    let r = send(
        xlqa_serve::router(shared()),
        post("/v1/ask", body.to_string()),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let v = r.json();
    assert_eq!(v["id"], "mine");
    assert_eq!(v["retriever"], "bm25");
    let ps = v["passages"].as_array().unwrap();
    assert!(ps.len() <= 3);
    assert!(ps.iter().all(|p| p["lang"] != v["question_lang"]), "{v}");
    assert!(
        ps.iter().all(|p| p.get("dense_rank").is_none()),
        "bm25 only: {v}"
    );
    if let Some(a) = v["answer"].as_object() {
        assert_eq!(a["reader"], "sentence");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_answers_in_order() {
    let body = json!({"questions": [
        {"question": "How high is Mount Kilimanjaro?", "id": "a"},
        {"question": "Wie hoch ist der Berg Fuji?", "id": "b", "reader": "none"},
    ]});
    let r = send(
        xlqa_serve::router(shared()),
        post("/v1/ask/batch", body.to_string()),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let v = r.json();
    let rs = v["results"].as_array().unwrap();
    assert_eq!(rs.len(), 2);
    assert_eq!(rs[0]["id"], "a");
    assert_eq!(rs[1]["id"], "b");
    assert!(rs[1]["answer"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_health_metrics_openapi_and_page() {
    let app = shared();
    let ix = send(xlqa_serve::router(app.clone()), get("/v1/index"))
        .await
        .json();
    assert_eq!(ix["passages"], app.engine.index().manifest.counts.passages);
    assert_eq!(ix["readers"], json!(["span", "sentence"]));
    assert_eq!(ix["retrievers"], json!(["dense", "bm25"]));
    assert!(
        ix["passages_by_lang"].as_object().unwrap().len() >= 8,
        "{ix}"
    );
    assert!(
        ix["debias"].is_null(),
        "the demo languages are too small to fit de-biasing: {ix}"
    );
    let h = send(xlqa_serve::router(app.clone()), get("/v1/health")).await;
    assert_eq!(h.json()["status"], "ok");
    send(xlqa_serve::router(app.clone()), post("/v1/ask", "{")).await;
    let m = send(xlqa_serve::router(app.clone()), get("/v1/metrics")).await;
    let text = String::from_utf8(m.body).unwrap();
    assert!(
        text.contains("xlqa_http_requests_total{endpoint=\"/v1/ask\",status=\"400\"}"),
        "{text}"
    );
    assert!(text.contains("xlqa_queue_depth 0"), "{text}");
    let doc = send(xlqa_serve::router(app.clone()), get("/openapi.json"))
        .await
        .json();
    assert!(doc["paths"]["/v1/ask"]["post"].is_object());
    let page = send(xlqa_serve::router(app), get("/")).await;
    let html = String::from_utf8(page.body).unwrap();
    assert!(
        html.contains("id=\"question\"") && !html.contains("http://") && !html.contains("https://")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_key_guards_everything_but_health_and_the_page() {
    let app = app_with(Limits::default(), Some("s3cret"));
    let r = |req| send(xlqa_serve::router(app.clone()), req);
    assert_eq!(r(get("/v1/index")).await.status, StatusCode::UNAUTHORIZED);
    let no = r(post("/v1/ask", r#"{"question":"x"}"#)).await;
    assert_eq!(no.status, StatusCode::UNAUTHORIZED);
    assert_eq!(no.json()["error"]["code"], "unauthorized");
    let wrong = Request::get("/v1/index")
        .header("x-api-key", "s3cres")
        .body(Body::empty())
        .unwrap();
    assert_eq!(r(wrong).await.status, StatusCode::UNAUTHORIZED);
    let bearer = Request::get("/v1/index")
        .header("authorization", "Bearer s3cret")
        .body(Body::empty())
        .unwrap();
    assert_eq!(r(bearer).await.status, StatusCode::OK);
    let header = Request::get("/openapi.json")
        .header("x-api-key", "s3cret")
        .body(Body::empty())
        .unwrap();
    assert_eq!(r(header).await.status, StatusCode::OK);
    assert_eq!(r(get("/v1/health")).await.status, StatusCode::OK);
    assert_eq!(r(get("/")).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_queue_gets_503_with_retry_after_and_no_other_errors() {
    let app = app_with(
        Limits {
            workers: 1,
            queue: 1,
            ..Limits::default()
        },
        None,
    );
    let body = json!({"question": "How high is Mount Kilimanjaro?"}).to_string();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            tokio::spawn(send(
                xlqa_serve::router(app.clone()),
                post("/v1/ask", body.clone()),
            ))
        })
        .collect();
    let mut ok = 0;
    let mut busy = 0;
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            StatusCode::OK => ok += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(r.headers.contains_key("retry-after"));
                assert_eq!(r.json()["error"]["code"], "overloaded");
                busy += 1;
            }
            s => panic!("unexpected {s}: {}", String::from_utf8_lossy(&r.body)),
        }
    }
    assert!(
        ok >= 2,
        "one at work and one queued are answered ({ok} ok, {busy} busy)"
    );
    assert!(
        busy >= 1,
        "eight at once with one worker and a queue of one: some are turned away"
    );
}

/// One malformed request and what it must get.
struct Bad {
    name: &'static str,
    req: Request<Body>,
    status: u16,
    code: &'static str,
    field: Option<&'static str>,
}

fn bad(
    name: &'static str,
    req: Request<Body>,
    status: u16,
    code: &'static str,
    field: Option<&'static str>,
) -> Bad {
    Bad {
        name,
        req,
        status,
        code,
        field,
    }
}

/// `/v1/ask` with `{"question": "q", <extra>}`.
fn ask_with(extra: &str) -> Request<Body> {
    post(
        "/v1/ask",
        format!(r#"{{"question": "Wie hoch ist der Berg Fuji?", {extra}}}"#),
    )
}

fn ask_cases() -> Vec<Bad> {
    let f = Some;
    vec![
        bad(
            "k zero",
            ask_with(r#""k": 0"#),
            422,
            "invalid_field",
            f("k"),
        ),
        bad(
            "k 101",
            ask_with(r#""k": 101"#),
            422,
            "invalid_field",
            f("k"),
        ),
        bad(
            "k 10^9",
            ask_with(r#""k": 1000000000"#),
            422,
            "invalid_field",
            f("k"),
        ),
        bad(
            "k negative",
            ask_with(r#""k": -1"#),
            422,
            "invalid_field",
            f("k"),
        ),
        bad(
            "k fraction",
            ask_with(r#""k": 1.5"#),
            422,
            "invalid_field",
            f("k"),
        ),
        bad(
            "k string",
            ask_with(r#""k": "5""#),
            422,
            "invalid_field",
            f("k"),
        ),
        bad(
            "k 1e20",
            ask_with(r#""k": 1e20"#),
            422,
            "invalid_field",
            f("k"),
        ),
        bad(
            "k bool",
            ask_with(r#""k": true"#),
            422,
            "invalid_field",
            f("k"),
        ),
        bad(
            "lang unknown",
            ask_with(r#""lang": "xx""#),
            422,
            "invalid_field",
            f("lang"),
        ),
        bad(
            "lang empty",
            ask_with(r#""lang": """#),
            422,
            "invalid_field",
            f("lang"),
        ),
        bad(
            "lang a word",
            ask_with(r#""lang": "english""#),
            422,
            "invalid_field",
            f("lang"),
        ),
        bad(
            "lang number",
            ask_with(r#""lang": 5"#),
            422,
            "invalid_field",
            f("lang"),
        ),
        bad(
            "lang with spaces",
            ask_with(r#""lang": "e n""#),
            422,
            "invalid_field",
            f("lang"),
        ),
        bad(
            "exclude_lang not a list",
            ask_with(r#""exclude_lang": "en""#),
            422,
            "invalid_field",
            f("exclude_lang"),
        ),
        bad(
            "exclude_lang bad code",
            ask_with(r#""exclude_lang": ["en", "zz"]"#),
            422,
            "invalid_field",
            f("exclude_lang[1]"),
        ),
        bad(
            "exclude_lang number",
            ask_with(r#""exclude_lang": [1]"#),
            422,
            "invalid_field",
            f("exclude_lang[0]"),
        ),
        bad(
            "exclude_lang too many",
            ask_with(&format!(
                r#""exclude_lang": [{}]"#,
                vec!["\"en\""; 65].join(",")
            )),
            422,
            "invalid_field",
            f("exclude_lang"),
        ),
        bad(
            "retriever unknown",
            ask_with(r#""retriever": "magic""#),
            422,
            "invalid_field",
            f("retriever"),
        ),
        bad(
            "retriever number",
            ask_with(r#""retriever": 1"#),
            422,
            "invalid_field",
            f("retriever"),
        ),
        bad(
            "retriever empty",
            ask_with(r#""retriever": """#),
            422,
            "invalid_field",
            f("retriever"),
        ),
        bad(
            "reader unknown",
            ask_with(r#""reader": "magic""#),
            422,
            "invalid_field",
            f("reader"),
        ),
        bad(
            "reader not loaded",
            ask_with(r#""reader": "llm""#),
            422,
            "invalid_field",
            f("reader"),
        ),
        bad(
            "reader number",
            ask_with(r#""reader": 3"#),
            422,
            "invalid_field",
            f("reader"),
        ),
        bad(
            "read_top zero",
            ask_with(r#""read_top": 0"#),
            422,
            "invalid_field",
            f("read_top"),
        ),
        bad(
            "read_top 21",
            ask_with(r#""read_top": 21"#),
            422,
            "invalid_field",
            f("read_top"),
        ),
        bad(
            "depth zero",
            ask_with(r#""depth": 0"#),
            422,
            "invalid_field",
            f("depth"),
        ),
        bad(
            "depth 100000",
            ask_with(r#""depth": 100000"#),
            422,
            "invalid_field",
            f("depth"),
        ),
        bad(
            "fusion unknown",
            ask_with(r#""fusion": "sum""#),
            422,
            "invalid_field",
            f("fusion"),
        ),
        bad(
            "weights unknown retriever",
            ask_with(r#""weights": {"magic": 1}"#),
            422,
            "invalid_field",
            f("weights.magic"),
        ),
        bad(
            "weights negative",
            ask_with(r#""weights": {"dense": -1}"#),
            422,
            "invalid_field",
            f("weights.dense"),
        ),
        bad(
            "weights string",
            ask_with(r#""weights": {"dense": "a"}"#),
            422,
            "invalid_field",
            f("weights.dense"),
        ),
        bad(
            "weights list",
            ask_with(r#""weights": [1]"#),
            422,
            "invalid_field",
            f("weights"),
        ),
        bad(
            "span_evidence unknown",
            ask_with(r#""span_evidence": "paragraph""#),
            422,
            "invalid_field",
            f("span_evidence"),
        ),
        bad(
            "project string",
            ask_with(r#""project": "yes""#),
            422,
            "invalid_field",
            f("project"),
        ),
        bad(
            "exclude_question_lang string",
            ask_with(r#""exclude_question_lang": "true""#),
            422,
            "invalid_field",
            f("exclude_question_lang"),
        ),
        bad(
            "unknown field",
            ask_with(r#""kk": 5"#),
            422,
            "invalid_field",
            None,
        ),
        bad(
            "id empty",
            ask_with(r#""id": """#),
            422,
            "invalid_field",
            f("id"),
        ),
        bad(
            "id too long",
            ask_with(&format!(r#""id": "{}""#, "x".repeat(300))),
            422,
            "invalid_field",
            f("id"),
        ),
        bad(
            "id number",
            ask_with(r#""id": 5"#),
            422,
            "invalid_field",
            f("id"),
        ),
    ]
}

fn body_cases() -> Vec<Bad> {
    let f = Some;
    let mut invalid_utf8 = br#"{"question": "caf"#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe]);
    invalid_utf8.extend_from_slice(br#""}"#);
    vec![
        bad(
            "unclosed object",
            post("/v1/ask", "{"),
            400,
            "invalid_json",
            None,
        ),
        bad(
            "trailing comma",
            post("/v1/ask", r#"{"question": "q",}"#),
            400,
            "invalid_json",
            None,
        ),
        bad("empty body", post("/v1/ask", ""), 400, "invalid_json", None),
        bad(
            "trailing garbage",
            post("/v1/ask", r#"{"question": "q"} x"#),
            400,
            "invalid_json",
            None,
        ),
        bad(
            "single quotes",
            post("/v1/ask", "{'question': 'q'}"),
            400,
            "invalid_json",
            None,
        ),
        bad(
            "invalid UTF-8",
            post("/v1/ask", invalid_utf8),
            400,
            "invalid_json",
            None,
        ),
        bad(
            "null body",
            post("/v1/ask", "null"),
            422,
            "invalid_field",
            None,
        ),
        bad(
            "array body",
            post("/v1/ask", "[]"),
            422,
            "invalid_field",
            None,
        ),
        bad(
            "string body",
            post("/v1/ask", r#""question""#),
            422,
            "invalid_field",
            None,
        ),
        bad(
            "number body",
            post("/v1/ask", "42"),
            422,
            "invalid_field",
            None,
        ),
        bad(
            "no question",
            post("/v1/ask", "{}"),
            422,
            "invalid_field",
            None,
        ),
        bad(
            "question number",
            post("/v1/ask", r#"{"question": 5}"#),
            422,
            "invalid_field",
            f("question"),
        ),
        bad(
            "question null",
            post("/v1/ask", r#"{"question": null}"#),
            422,
            "invalid_field",
            f("question"),
        ),
        bad(
            "question list",
            post("/v1/ask", r#"{"question": ["a"]}"#),
            422,
            "invalid_field",
            f("question"),
        ),
        bad(
            "question empty",
            post("/v1/ask", r#"{"question": ""}"#),
            422,
            "invalid_field",
            f("question"),
        ),
        bad(
            "question blank",
            post("/v1/ask", r#"{"question": "  \n\t "}"#),
            422,
            "invalid_field",
            f("question"),
        ),
        bad(
            "question too long",
            post(
                "/v1/ask",
                json!({"question": "a ".repeat(1500)}).to_string(),
            ),
            422,
            "invalid_field",
            f("question"),
        ),
        bad(
            "1 MB question",
            post(
                "/v1/ask",
                json!({"question": "a".repeat(1 << 20)}).to_string(),
            ),
            413,
            "payload_too_large",
            None,
        ),
        bad(
            "text/plain",
            Request::post("/v1/ask")
                .header("content-type", "text/plain")
                .body(Body::from(r#"{"question":"q"}"#))
                .unwrap(),
            415,
            "unsupported_media_type",
            None,
        ),
        bad(
            "no content type",
            Request::post("/v1/ask")
                .body(Body::from(r#"{"question":"q"}"#))
                .unwrap(),
            415,
            "unsupported_media_type",
            None,
        ),
        bad(
            "form encoded",
            Request::post("/v1/ask")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from("question=q"))
                .unwrap(),
            415,
            "unsupported_media_type",
            None,
        ),
    ]
}

fn route_and_batch_cases() -> Vec<Bad> {
    let f = Some;
    let many: Vec<Value> = (0..65).map(|_| json!({"question": "q"})).collect();
    vec![
        bad("GET ask", get("/v1/ask"), 405, "method_not_allowed", None),
        bad(
            "PUT ask",
            Request::put("/v1/ask").body(Body::empty()).unwrap(),
            405,
            "method_not_allowed",
            None,
        ),
        bad(
            "POST index",
            post("/v1/index", "{}"),
            405,
            "method_not_allowed",
            None,
        ),
        bad(
            "POST health",
            post("/v1/health", "{}"),
            405,
            "method_not_allowed",
            None,
        ),
        bad(
            "DELETE metrics",
            Request::delete("/v1/metrics").body(Body::empty()).unwrap(),
            405,
            "method_not_allowed",
            None,
        ),
        bad(
            "unknown endpoint",
            post("/v1/nope", "{}"),
            404,
            "not_found",
            None,
        ),
        bad("unknown version", get("/v2/ask"), 404, "not_found", None),
        bad(
            "batch empty",
            post("/v1/ask/batch", r#"{"questions": []}"#),
            422,
            "invalid_field",
            f("questions"),
        ),
        bad(
            "batch not a list",
            post("/v1/ask/batch", r#"{"questions": "q"}"#),
            422,
            "invalid_field",
            f("questions"),
        ),
        bad(
            "batch no questions",
            post("/v1/ask/batch", "{}"),
            422,
            "invalid_field",
            None,
        ),
        bad(
            "batch too large",
            post("/v1/ask/batch", json!({"questions": many}).to_string()),
            422,
            "invalid_field",
            f("questions"),
        ),
        bad(
            "batch one empty question",
            post(
                "/v1/ask/batch",
                r#"{"questions": [{"question": "ok"}, {"question": ""}]}"#,
            ),
            422,
            "invalid_field",
            f("questions[1].question"),
        ),
        bad(
            "batch one bad k",
            post(
                "/v1/ask/batch",
                r#"{"questions": [{"question": "ok"}, {"question": "x", "k": 0}]}"#,
            ),
            422,
            "invalid_field",
            f("questions[1].k"),
        ),
        bad(
            "batch one bad lang",
            post(
                "/v1/ask/batch",
                r#"{"questions": [{"question": "ok", "lang": "zz"}]}"#,
            ),
            422,
            "invalid_field",
            f("questions[0].lang"),
        ),
        bad(
            "batch root array",
            post("/v1/ask/batch", r#"[{"question": "a"}]"#),
            422,
            "invalid_field",
            None,
        ),
        bad(
            "batch unknown field",
            post(
                "/v1/ask/batch",
                r#"{"questions": [{"question": "a"}], "k": 3}"#,
            ),
            422,
            "invalid_field",
            None,
        ),
        bad(
            "batch invalid JSON",
            post("/v1/ask/batch", r#"{"questions": [{"question": "a"}"#),
            400,
            "invalid_json",
            None,
        ),
        bad("documents: a bad line among good ones", docs("{\"id\":\"a\",\"text\":\"Long enough text for one passage of the index, really it is.\"}\n{\"id\":\"b\"}\n", "application/x-ndjson"), 422, "invalid_documents", None),
        bad("documents: not JSON", docs("nope", "application/x-ndjson"), 422, "invalid_documents", None),
        bad("documents: empty body", docs("", "application/x-ndjson"), 422, "invalid_documents", None),
        bad("documents: JSON object, not an array", docs("{\"id\":\"a\",\"text\":\"t\"}", "application/json"), 422, "invalid_field", Some("documents")),
        bad("documents: duplicate ids", docs("[{\"id\":\"a\",\"text\":\"x\"},{\"id\":\"a\",\"text\":\"y\"}]", "application/json"), 422, "invalid_documents", None),
        bad("documents: bad lang", docs("[{\"id\":\"a\",\"text\":\"x\",\"lang\":\"zz\"}]", "application/json"), 422, "invalid_documents", None),
        bad("documents: too short to index", docs("[{\"id\":\"short\",\"text\":\"Too short.\",\"lang\":\"en\"}]", "application/json"), 422, "invalid_field", Some("documents")),
        bad("documents: text/plain", docs("[]", "text/plain"), 415, "unsupported_media_type", None),
        bad("documents: invalid UTF-8", Request::post("/v1/documents").header("content-type", "application/x-ndjson").body(Body::from(vec![0xffu8, 0xfe])).unwrap(), 400, "invalid_json", None),
        bad("documents: GET unknown id", get("/v1/documents/no-such-doc"), 404, "not_found", Some("id")),
        bad("documents: DELETE unknown id", Request::delete("/v1/documents/no-such-doc").body(Body::empty()).unwrap(), 404, "not_found", Some("id")),
        bad("documents: PUT", Request::put("/v1/documents").body(Body::empty()).unwrap(), 405, "method_not_allowed", None),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_4xx_json_errors_that_name_the_problem() {
    let app = shared();
    let cases: Vec<Bad> = ask_cases()
        .into_iter()
        .chain(body_cases())
        .chain(route_and_batch_cases())
        .collect();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let n = cases.len();
    let mut failures = Vec::new();
    for c in cases {
        let r = send(xlqa_serve::router(app.clone()), c.req).await;
        let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        let err = &v["error"];
        let got_field = err["field"].as_str();
        let ok = r.status.as_u16() == c.status
            && err["code"] == c.code
            && err["message"].as_str().is_some_and(|m| m.len() > 10)
            && (c.field.is_none() || got_field == c.field)
            && !got_field.is_some_and(|f| f.is_empty() || f == "." || f.contains('?'));
        if !ok {
            failures.push(format!(
                "{}: got {} {} (want {} {} field {:?})",
                c.name,
                r.status,
                String::from_utf8_lossy(&r.body),
                c.status,
                c.code,
                c.field
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n} cases wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let m = app.metrics.render(0, 0);
    assert!(
        !m.contains("status=\"500\""),
        "no request may end in a 500:\n{m}"
    );
}

/// An app over its own copy of the demo index (live updates change it).
fn private_app() -> (tempfile::TempDir, Arc<App>) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    copy_dir(index_dir(), &dir);
    let engine = EngineBuilder::new(&dir)
        .home(ModelHome::from_env().unwrap())
        .reader("span")
        .build()
        .unwrap();
    let app = Arc::new(App::new(engine, &dir, Limits::default(), None));
    (tmp, app)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn docs(body: &str, content_type: &str) -> Request<Body> {
    Request::post("/v1/documents")
        .header("content-type", content_type)
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_are_added_replaced_and_deleted_live() {
    let (_tmp, app) = private_app();
    let r = |req| send(xlqa_serve::router(app.clone()), req);
    let lake = r#"{"id":"lake-en","title":"Lake Zirbel","text":"Lake Zirbel lies at 2,114 metres in the Alps. It freezes every winter for five months and is known for its very clear water."}"#;
    let rep = r(docs(lake, "application/x-ndjson")).await;
    assert_eq!(
        rep.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&rep.body)
    );
    let v = rep.json();
    assert_eq!(
        (v["added_documents"].as_u64(), v["generation"].as_u64()),
        (Some(1), Some(1))
    );
    let ask =
        json!({"question": "At what height does Lake Zirbel lie?", "retriever": "bm25", "k": 1});
    let a = r(post("/v1/ask", ask.to_string())).await.json();
    assert_eq!(a["passages"][0]["doc_id"], "lake-en", "{a}");
    // replace (same id, JSON array form)
    let new = r#"[{"id":"lake-en","title":"Lake Zirbel","text":"Lake Zirbel lies at 2,114 metres in the Alps and has been a nature reserve since 1996, with clear water all year."}]"#;
    let v = r(docs(new, "application/json")).await.json();
    assert_eq!(v["replaced_documents"], 1, "{v}");
    let d = r(get("/v1/documents/lake-en")).await.json();
    assert_eq!(d["passages"].as_array().unwrap().len(), 1);
    assert!(d["passages"][0]["text"].as_str().unwrap().contains("1996"));
    let ix = r(get("/v1/index")).await.json();
    assert_eq!(ix["generation"], 2);
    assert_eq!(ix["deleted_passages"], 1);
    // a bad batch changes nothing and names every bad entry
    let bad = "{\"id\":\"ok\",\"text\":\"Fine text that is long enough to be one passage of the index here.\"}\n{\"id\":\"x\"}\nnope\n";
    let e = r(docs(bad, "application/x-ndjson")).await;
    assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
    let entries: Vec<u64> = e.json()["error"]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["entry"].as_u64().unwrap())
        .collect();
    assert_eq!(entries, vec![2, 3]);
    assert_eq!(
        r(get("/v1/index")).await.json()["generation"],
        2,
        "nothing applied"
    );
    assert_eq!(
        r(get("/v1/documents/ok")).await.status,
        StatusCode::NOT_FOUND
    );
    // delete, then it is gone from answers; a second delete is 404
    let del = Request::delete("/v1/documents/lake-en")
        .body(Body::empty())
        .unwrap();
    assert_eq!(r(del).await.json()["deleted_documents"], 1);
    let a = r(post("/v1/ask", ask.to_string())).await.json();
    assert_ne!(a["passages"][0]["doc_id"], "lake-en", "{a}");
    let again = Request::delete("/v1/documents/lake-en")
        .body(Body::empty())
        .unwrap();
    let e = r(again).await;
    assert_eq!(e.status, StatusCode::NOT_FOUND);
    assert_eq!(e.json()["error"]["field"], "id");
    assert_eq!(r(get("/v1/index")).await.json()["generation"], 3);
    assert_eq!(
        r(docs("[]", "text/plain")).await.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(
        r(docs("{\"id\":\"a\",\"text\":\"b\"}", "application/json"))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}
