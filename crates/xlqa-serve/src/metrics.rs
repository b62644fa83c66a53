//! `GET /v1/metrics`: Prometheus text exposition (prometheus-client) of
//! requests by endpoint and status, request latency, answering latency by
//! stage, the model queue's depth and the requests being answered.

use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use xlqa_core::StageTimings;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    endpoint: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    stage: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// 1 ms to ~33 s, doubling.
fn seconds_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Histograms<EndpointLabels>,
    stages: Histograms<StageLabels>,
    queue_depth: Gauge,
    in_flight: Gauge,
    /// Serializes scrapes (gauges are set, then everything encoded).
    scrape: Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("xlqa");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by endpoint and status",
            requests.clone(),
        );
        let latency: Histograms<EndpointLabels> = Family::new_with_constructor(seconds_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time from request to response by endpoint",
            latency.clone(),
        );
        let stages: Histograms<StageLabels> = Family::new_with_constructor(seconds_histogram);
        registry.register(
            "answer_stage_duration_seconds",
            "Time spent in each stage of answering a question",
            stages.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "Requests waiting for a model worker",
            queue_depth.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "in_flight",
            "Requests being answered now",
            in_flight.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            stages,
            queue_depth,
            in_flight,
            scrape: Mutex::new(()),
        }
    }

    /// One finished HTTP request.
    pub fn request(&self, endpoint: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                endpoint: endpoint.to_string(),
                status: status.to_string(),
            })
            .inc();
        self.latency
            .get_or_create(&EndpointLabels {
                endpoint: endpoint.to_string(),
            })
            .observe(seconds);
    }

    /// The stage timings of one answered question.
    pub fn answered(&self, t: &StageTimings) {
        let mut stages = vec![
            ("lang_id", t.lang_id_ms),
            ("encode", t.encode_ms),
            ("dense", t.dense_ms),
            ("bm25", t.lexical_ms),
            ("fuse", t.fuse_ms),
            ("read", t.read_ms),
            ("total", t.total_ms),
        ];
        stages.extend(t.other_retrievers_ms.iter().map(|(k, v)| (k.as_str(), *v)));
        for (stage, ms) in stages {
            self.stages
                .get_or_create(&StageLabels {
                    stage: stage.to_string(),
                })
                .observe(ms / 1000.0);
        }
    }

    /// The exposition text, with the gauges read now.
    pub fn render(&self, queue_depth: usize, in_flight: usize) -> String {
        let _one = self.scrape.lock().unwrap_or_else(|p| p.into_inner());
        self.queue_depth.set(queue_depth as i64);
        self.in_flight.set(in_flight as i64);
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.push_str("# error: the metrics could not be encoded\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_text_has_the_requests_and_stages() {
        let m = Metrics::new();
        m.request("/v1/ask", 200, 0.09);
        m.request("/v1/ask", 422, 0.001);
        m.answered(&StageTimings {
            read_ms: 80.0,
            total_ms: 90.0,
            ..StageTimings::default()
        });
        let t = m.render(3, 1);
        assert!(
            t.contains("xlqa_http_requests_total{endpoint=\"/v1/ask\",status=\"200\"} 1"),
            "{t}"
        );
        assert!(
            t.contains("xlqa_http_requests_total{endpoint=\"/v1/ask\",status=\"422\"} 1"),
            "{t}"
        );
        assert!(
            t.contains("xlqa_answer_stage_duration_seconds_count{stage=\"read\"} 1"),
            "{t}"
        );
        assert!(t.contains("xlqa_queue_depth 3"), "{t}");
        assert!(t.contains("xlqa_in_flight 1"), "{t}");
    }
}
