//! Burrow v3's read endpoints, served by every node from the shared store:
//! the node asked need not own (or even fetch) the group, since its owner
//! published the group's evaluation ([`super::publish`]). Clusters come
//! from the configuration, which every node of a fleet shares.
//!
//! Answers and errors are Burrow's: 404 with `{"error":true,"message":...}`
//! for an unknown cluster, consumer or topic, and for `/status` and `/lag`
//! of an unknown one Burrow's status envelope with status `NOTFOUND`, also
//! with 404. A store that cannot be read answers 503 in the same envelope.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use lagring_store::{EvaluationStore, RecordKind, StoreError};
use serde::Serialize;

use super::evaluation::consumer_topics;
use super::model::{
    ClientProfile, ClusterList, ClusterModule, ConsumerDetail, ConsumerList, Envelope, GroupStatus, ModuleDetail,
    NoBody, PublishedTopic, RequestInfo, StatusBody, TopicList,
};

/// Consumers (and topics) listed per cluster at most: Burrow lists all of
/// them; lagring caps the answer so a cluster of 100,000 groups cannot make
/// one request read megabytes from Redis. Over the cap the list holds that
/// many names (sorted; which ones is not specified) and the rest are left out.
pub const MAX_LISTED: usize = 10_000;

/// What the read API needs: the shared store and the configured clusters.
#[derive(Clone, Debug)]
pub struct ApiState {
    pub store: Arc<dyn EvaluationStore>,
    /// Brokers of each configured cluster, by name.
    pub clusters: Arc<BTreeMap<String, Vec<String>>>,
    /// `request.host` of every answer (the node id).
    pub host: Arc<str>,
    /// `node.interval` in seconds (Burrow's topic and offset refresh).
    pub refresh_s: u64,
}

/// The `/v3/kafka` routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v3/kafka", get(clusters))
        .route("/v3/kafka/{cluster}", get(cluster))
        .route("/v3/kafka/{cluster}/consumer", get(consumers))
        .route("/v3/kafka/{cluster}/consumer/{group}", get(consumer))
        .route("/v3/kafka/{cluster}/consumer/{group}/status", get(status))
        .route("/v3/kafka/{cluster}/consumer/{group}/lag", get(lag))
        .route("/v3/kafka/{cluster}/topic", get(topics))
        .route("/v3/kafka/{cluster}/topic/{topic}", get(topic))
        .with_state(state)
}

impl ApiState {
    fn request(&self, uri: &Uri) -> RequestInfo {
        RequestInfo { url: uri.path().to_owned(), host: self.host.to_string() }
    }

    fn answer<T: Serialize>(&self, uri: &Uri, code: StatusCode, message: &str, body: T) -> Response {
        let envelope = Envelope { error: false, message: message.to_owned(), body, request: self.request(uri) };
        (code, Json(envelope)).into_response()
    }

    fn error(&self, uri: &Uri, code: StatusCode, message: String) -> Response {
        let envelope = Envelope { error: true, message, body: NoBody {}, request: self.request(uri) };
        (code, Json(envelope)).into_response()
    }

    fn store_failed(&self, uri: &Uri, error: &StoreError) -> Response {
        tracing::debug!(%error, "read api: store read failed");
        self.error(uri, StatusCode::SERVICE_UNAVAILABLE, format!("cannot read the shared store: {error}"))
    }

    fn knows(&self, cluster: &str) -> bool {
        self.clusters.contains_key(cluster)
    }
}

async fn clusters(State(s): State<ApiState>, uri: Uri) -> Response {
    let clusters = s.clusters.keys().cloned().collect();
    s.answer(&uri, StatusCode::OK, "cluster list returned", ClusterList { clusters })
}

async fn cluster(State(s): State<ApiState>, uri: Uri, Path(cluster): Path<String>) -> Response {
    let Some(servers) = s.clusters.get(&cluster) else {
        return s.error(&uri, StatusCode::NOT_FOUND, "cluster module not found".into());
    };
    let module = ClusterModule {
        class_name: "kafka",
        servers: servers.clone(),
        client_profile: ClientProfile {
            name: String::new(),
            client_id: "lagring".into(),
            kafka_version: String::new(),
            tls: None,
            sasl: None,
        },
        topic_refresh: s.refresh_s,
        offset_refresh: s.refresh_s,
    };
    s.answer(&uri, StatusCode::OK, "cluster module detail returned", ModuleDetail { module })
}

async fn consumers(State(s): State<ApiState>, uri: Uri, Path(cluster): Path<String>) -> Response {
    if !s.knows(&cluster) {
        return s.error(&uri, StatusCode::NOT_FOUND, "cluster not found".into());
    }
    match s.store.names(&cluster, RecordKind::Group, MAX_LISTED).await {
        Ok(listed) => {
            s.answer(&uri, StatusCode::OK, "consumer list returned", ConsumerList { consumers: listed.names })
        }
        Err(e) => s.store_failed(&uri, &e),
    }
}

async fn topics(State(s): State<ApiState>, uri: Uri, Path(cluster): Path<String>) -> Response {
    if !s.knows(&cluster) {
        return s.error(&uri, StatusCode::NOT_FOUND, "cluster not found".into());
    }
    match s.store.names(&cluster, RecordKind::Topic, MAX_LISTED).await {
        Ok(listed) => s.answer(&uri, StatusCode::OK, "topic list returned", TopicList { topics: listed.names }),
        Err(e) => s.store_failed(&uri, &e),
    }
}

async fn topic(State(s): State<ApiState>, uri: Uri, Path((cluster, topic)): Path<(String, String)>) -> Response {
    let not_found = || s.error(&uri, StatusCode::NOT_FOUND, "cluster or topic not found".into());
    if !s.knows(&cluster) {
        return not_found();
    }
    let value = match s.store.read(&cluster, RecordKind::Topic, &topic).await {
        Ok(Some(value)) => value,
        Ok(None) => return not_found(),
        Err(e) => return s.store_failed(&uri, &e),
    };
    match serde_json::from_str::<PublishedTopic>(&value) {
        Ok(topic) => s.answer(&uri, StatusCode::OK, "topic offsets returned", topic.detail()),
        Err(e) => s.error(&uri, StatusCode::INTERNAL_SERVER_ERROR, format!("bad topic record of {topic}: {e}")),
    }
}

/// The published evaluation of `group`: `Ok(None)` for an unknown cluster
/// or group, `Err` with the answer to send when the store failed.
async fn read_group(s: &ApiState, uri: &Uri, cluster: &str, group: &str) -> Result<Option<GroupStatus>, Response> {
    if !s.knows(cluster) {
        return Ok(None);
    }
    let value = match s.store.read(cluster, RecordKind::Group, group).await {
        Ok(Some(value)) => value,
        Ok(None) => return Ok(None),
        Err(e) => return Err(s.store_failed(uri, &e)),
    };
    serde_json::from_str(&value)
        .map(Some)
        .map_err(|e| s.error(uri, StatusCode::INTERNAL_SERVER_ERROR, format!("bad evaluation record of {group}: {e}")))
}

async fn consumer(State(s): State<ApiState>, uri: Uri, Path((cluster, group)): Path<(String, String)>) -> Response {
    match read_group(&s, &uri, &cluster, &group).await {
        Ok(Some(status)) => {
            let body = ConsumerDetail { topics: consumer_topics(&status) };
            s.answer(&uri, StatusCode::OK, "consumer detail returned", body)
        }
        Ok(None) => s.error(&uri, StatusCode::NOT_FOUND, "cluster or consumer not found".into()),
        Err(answer) => answer,
    }
}

async fn status(State(s): State<ApiState>, uri: Uri, Path((cluster, group)): Path<(String, String)>) -> Response {
    group_status(&s, &uri, &cluster, &group, false).await
}

async fn lag(State(s): State<ApiState>, uri: Uri, Path((cluster, group)): Path<(String, String)>) -> Response {
    group_status(&s, &uri, &cluster, &group, true).await
}

/// `/status` (`all` false: only partitions that are not OK) and `/lag`.
async fn group_status(s: &ApiState, uri: &Uri, cluster: &str, group: &str, all: bool) -> Response {
    let (code, status) = match read_group(s, uri, cluster, group).await {
        Ok(Some(status)) if all => (StatusCode::OK, status),
        Ok(Some(status)) => (StatusCode::OK, status.only_bad_partitions()),
        Ok(None) => (StatusCode::NOT_FOUND, GroupStatus::not_found(cluster, group)),
        Err(answer) => return answer,
    };
    s.answer(uri, code, "consumer status returned", StatusBody { status })
}
