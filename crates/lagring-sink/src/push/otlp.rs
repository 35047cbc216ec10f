//! OTLP metrics over HTTP with protobuf bodies (`POST .../v1/metrics`), the
//! format OpenTelemetry collectors and klag-exporter users read.
//!
//! Every record becomes a point of a gauge named like the Prometheus series,
//! with the series' labels as point attributes. Points are grouped per
//! cluster into one `ResourceMetrics` whose resource says which cluster it
//! describes (`kafka.cluster.name`) and which service sent it
//! (`service.name` = `lagring`), plus the configured resource attributes.
//! The messages are the official definitions (`opentelemetry-proto`).
//!
//! A 2xx answer is delivered; 429, 5xx and no answer are retried; any other
//! status rejects the records (retrying the same body cannot help).

use std::collections::BTreeMap;
use std::time::Duration;

use lagring_core::metric_names::help_for;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use super::gate::Record;
use super::transport::SendError;
use crate::SinkError;

/// Resource attribute naming the cluster a `ResourceMetrics` describes.
pub const CLUSTER_ATTRIBUTE: &str = "kafka.cluster.name";
/// At most this much of an error response is logged.
const MAX_ERROR_BODY: usize = 512;

fn string_value(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.to_owned())) }),
    }
}

/// The export request for `records` (pure): one resource per cluster, one
/// gauge per metric name, points in record order.
pub fn build_request(
    records: &[Record],
    resource_attributes: &BTreeMap<String, String>,
) -> ExportMetricsServiceRequest {
    let mut clusters: BTreeMap<&str, BTreeMap<&str, Vec<NumberDataPoint>>> = BTreeMap::new();
    for record in records {
        let point = NumberDataPoint {
            attributes: record.key.labels().iter().map(|(k, v)| string_value(k, v)).collect(),
            time_unix_nano: u64::try_from(record.timestamp_ms).unwrap_or(0).saturating_mul(1_000_000),
            value: Some(number_data_point::Value::AsDouble(record.value)),
            ..NumberDataPoint::default()
        };
        clusters.entry(&*record.cluster).or_default().entry(record.key.name()).or_default().push(point);
    }
    let resource_metrics = clusters
        .into_iter()
        .map(|(cluster, metrics)| {
            let mut attributes =
                vec![string_value("service.name", "lagring"), string_value(CLUSTER_ATTRIBUTE, cluster)];
            attributes.extend(resource_attributes.iter().map(|(k, v)| string_value(k, v)));
            let metrics = metrics
                .into_iter()
                .map(|(name, data_points)| Metric {
                    name: name.to_owned(),
                    description: help_for(name).to_owned(),
                    data: Some(metric::Data::Gauge(Gauge { data_points })),
                    ..Metric::default()
                })
                .collect();
            ResourceMetrics {
                resource: Some(Resource { attributes, ..Resource::default() }),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: "lagring".to_owned(),
                        version: env!("CARGO_PKG_VERSION").to_owned(),
                        ..InstrumentationScope::default()
                    }),
                    metrics,
                    ..ScopeMetrics::default()
                }],
                ..ResourceMetrics::default()
            }
        })
        .collect();
    ExportMetricsServiceRequest { resource_metrics }
}

#[derive(Debug)]
pub(crate) struct OtlpService {
    client: reqwest::Client,
    endpoint: String,
    headers: reqwest::header::HeaderMap,
    resource_attributes: BTreeMap<String, String>,
}

impl OtlpService {
    pub fn new(
        endpoint: String,
        timeout: Duration,
        headers: &BTreeMap<String, String>,
        resource_attributes: BTreeMap<String, String>,
    ) -> Result<Self, SinkError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|source| SinkError::HttpClient { what: "otlp sink".to_owned(), source })?;
        let mut map = reqwest::header::HeaderMap::new();
        for (name, value) in headers {
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| SinkError::config(format!("otlp.headers.{name}"), "invalid header name"))?;
            let value = reqwest::header::HeaderValue::from_str(value)
                .map_err(|_| SinkError::config(format!("otlp.headers.{name}"), "invalid header value"))?;
            map.insert(name, value);
        }
        Ok(Self { client, endpoint, headers: map, resource_attributes })
    }

    pub async fn send(&self, records: &[Record]) -> Result<(), SendError> {
        let body = build_request(records, &self.resource_attributes).encode_to_vec();
        let mut response = self
            .client
            .post(&self.endpoint)
            .headers(self.headers.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
            .body(body)
            .send()
            .await
            .map_err(|e| SendError::Retry(format!("post to {}: {e}", self.endpoint)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        // Only the first chunk, cut to a bound: the body size is the peer's choice.
        let chunk = response.chunk().await.ok().flatten().unwrap_or_default();
        let text = String::from_utf8_lossy(chunk.get(..MAX_ERROR_BODY).unwrap_or(&chunk[..]));
        let reason = format!("{} answered {status}: {text}", self.endpoint);
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            Err(SendError::Retry(reason))
        } else {
            Err(SendError::Reject(reason))
        }
    }
}
