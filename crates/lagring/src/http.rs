//! The node's HTTP endpoints: `/metrics` (lag series + self metrics),
//! `/healthz` (200, or 503 with a JSON body naming each unhealthy cluster and
//! node problem and why), `/readyz` (200 once every cluster finished a first
//! iteration) and `/livez` (503 only when a critical task died).
//!
//! With `http.burrow_api` (the default) the same listener serves Burrow's
//! v3 read API (`/v3/kafka/...`, see `crate::api`).
//!
//! `/metrics` renders on the blocking pool: at hundreds of thousands of
//! series the text takes tens of milliseconds to build, which must not hold
//! a runtime worker that the heartbeat needs.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use lagring_sink::LagCollector;
use prometheus::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::ApiState;
use crate::health::Health;

#[derive(Clone, Debug)]
pub struct HttpState {
    pub registry: Registry,
    pub lag: LagCollector,
    pub health: Health,
    /// Burrow's read API, when enabled.
    pub burrow_api: Option<ApiState>,
}

pub fn router(state: HttpState) -> Router {
    let api = state.burrow_api.clone();
    let node = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/livez", get(livez))
        .with_state(state);
    match api {
        Some(api) => node.merge(crate::api::router(api)),
        None => node,
    }
}

/// Serves until `shutdown` is cancelled.
pub async fn serve(listener: TcpListener, state: HttpState, shutdown: CancellationToken) -> std::io::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown.cancelled_owned()).await
}

async fn metrics(State(state): State<HttpState>) -> Response {
    let rendered = tokio::task::spawn_blocking(move || lagring_sink::render(&state.registry, &state.lag)).await;
    let rendered = match rendered {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "/metrics render task failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "cannot render metrics\n").into_response();
        }
    };
    match rendered {
        Ok(body) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot render /metrics");
            (StatusCode::INTERNAL_SERVER_ERROR, format!("cannot render metrics: {e}\n")).into_response()
        }
    }
}

async fn livez(State(state): State<HttpState>) -> Response {
    match state.health.fatal() {
        None => (StatusCode::OK, "live\n").into_response(),
        Some(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("not live: {reason}\n")).into_response(),
    }
}

async fn healthz(State(state): State<HttpState>) -> Response {
    let report = state.health.report();
    let code = if report.status == "ok" { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(report)).into_response()
}

async fn readyz(State(state): State<HttpState>) -> Response {
    let waiting = state.health.not_ready();
    if waiting.is_empty() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, format!("waiting for first iteration of: {}\n", waiting.join(", ")))
            .into_response()
    }
}
