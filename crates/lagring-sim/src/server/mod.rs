//! Starting and stopping the simulated cluster: bind one listener per broker, spawn an accept
//! loop each, and hand back a `SimHandle` that exposes addresses, counters and the expected
//! values. One `CancellationToken` stops every task; dropping the handle cancels it.

mod conn;
mod gssapi;
mod msk_iam;
mod oauthbearer;
mod sasl;
mod scram;
mod tls;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use kafka_protocol::messages::ApiKey;

use crate::clock::Clock;
use crate::controls::Controls;
use crate::counters::{Counters, RequestCounts};
use crate::error::SimError;
use crate::faults::Faults;
use crate::handlers::BrokerAddr;
use crate::model::expected::Expected;
use crate::model::{MANUAL_EPOCH_MS, Model};
use crate::scenario::Scenario;

/// How long `shutdown` waits for connection tasks to finish.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Entry point of the library.
#[derive(Debug)]
pub struct Sim;

/// State shared by every connection task.
#[derive(Debug)]
pub(crate) struct Shared {
    pub model: Model,
    pub brokers: Vec<BrokerAddr>,
    pub clock: Clock,
    pub counters: Counters,
    pub faults: Faults,
    pub controls: Controls,
    /// Set when the listeners serve TLS.
    pub tls: Option<tls::ServerTls>,
    /// Set when every connection must log in with SASL.
    pub sasl: Option<sasl::SaslUsers>,
}

/// A running simulated cluster; stops when dropped.
#[derive(Debug)]
pub struct SimHandle {
    shared: Arc<Shared>,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl Sim {
    /// Bind every broker on 127.0.0.1 and start serving.
    pub async fn start(scenario: Scenario, clock: Clock) -> Result<SimHandle, SimError> {
        scenario.validate()?;
        let security = |what: String| SimError::InvalidScenario(what);
        let tls = scenario.security.tls.as_ref().map(tls::acceptor).transpose().map_err(security)?;
        let sasl = scenario.security.sasl.as_ref().map(sasl::SaslUsers::new).transpose().map_err(security)?;
        let epoch_ms = scenario.epoch_ms.unwrap_or_else(|| default_epoch(&clock));
        let mut listeners = Vec::new();
        let mut brokers = Vec::new();
        for b in 0..scenario.brokers {
            let id = i32::try_from(b).unwrap_or(i32::MAX);
            let port = scenario.ports.get(b as usize).copied().unwrap_or(0);
            let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
            let listener =
                TcpListener::bind(addr).await.map_err(|source| SimError::Bind { broker: id, addr, source })?;
            let local = listener.local_addr()?;
            brokers.push(BrokerAddr { id, host: local.ip().to_string(), port: i32::from(local.port()) });
            listeners.push((id, listener));
        }
        let faults = Faults::new(&scenario.faults, scenario.seed, scenario.brokers);
        let counters = Counters::new(scenario.brokers);
        let controls = Controls::new(scenario.brokers);
        let model = Model::new(scenario, epoch_ms);
        let shared = Arc::new(Shared { model, brokers, clock, counters, faults, controls, tls, sasl });
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        for (id, listener) in listeners {
            let (shared, cancel, inner) = (shared.clone(), cancel.clone(), tracker.clone());
            tracker.spawn(conn::accept_loop(id, listener, shared, cancel, inner));
        }
        tracing::info!(
            brokers = shared.brokers.len(),
            groups = shared.model.groups.len(),
            topics = shared.model.topics.len(),
            epoch_ms,
            "simulator started"
        );
        Ok(SimHandle { shared, cancel, tracker })
    }
}

fn default_epoch(clock: &Clock) -> i64 {
    if clock.is_manual() {
        return MANUAL_EPOCH_MS;
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(MANUAL_EPOCH_MS)
}

impl SimHandle {
    /// Comma-separated broker addresses, usable as `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.broker_addrs().iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
    }

    /// Address of each broker, by broker id.
    pub fn broker_addrs(&self) -> Vec<SocketAddr> {
        self.shared.brokers.iter().filter_map(|b| format!("{}:{}", b.host, b.port).parse().ok()).collect()
    }

    /// Request counters so far.
    pub fn request_counts(&self) -> RequestCounts {
        self.shared.counters.snapshot()
    }

    /// Expected offsets at scenario time `at`.
    pub fn expected_at(&self, at: Duration) -> Expected {
        self.shared.model.expected_at(at)
    }

    /// Expected offsets at the clock's current reading.
    pub fn expected_now(&self) -> Expected {
        self.expected_at(self.shared.clock.elapsed())
    }

    /// Scenario time now, by the simulator's clock.
    pub fn elapsed(&self) -> Duration {
        self.shared.clock.elapsed()
    }

    /// Unix ms of scenario t = 0 (for timestamp lookups).
    pub fn epoch_ms(&self) -> i64 {
        self.shared.model.epoch_ms
    }

    /// The compiled scenario.
    pub fn model(&self) -> &Model {
        &self.shared.model
    }

    /// Make `broker` hold every request unanswered (`true`) or answer again (`false`); held
    /// requests are answered once it answers again.
    pub fn set_silenced(&self, broker: i32, silenced: bool) {
        self.shared.controls.set_silenced(broker, silenced);
    }

    /// Move the coordinator of `group` to `broker`: FindCoordinator names `broker` from now on
    /// and every other broker answers NOT_COORDINATOR for the group.
    pub fn move_coordinator(&self, group: &str, broker: i32) {
        self.shared.controls.move_coordinator(group, broker);
    }

    /// The broker coordinating `key` now (after any move).
    pub fn coordinator_of(&self, key: &str) -> i32 {
        self.shared.controls.moved_coordinator(key).unwrap_or_else(|| self.shared.model.coordinator_for_key(key))
    }

    /// Move the leadership of `topic`/`partition` to `broker`: Metadata names it from now on
    /// and every other broker answers NOT_LEADER_OR_FOLLOWER for the partition.
    pub fn move_leader(&self, topic: &str, partition: i32, broker: i32) {
        self.shared.controls.move_leader(topic, partition, broker);
    }

    /// The leader of `topic`/`partition` now (after any move); `None` for an unknown topic.
    pub fn leader_of(&self, topic: &str, partition: i32) -> Option<i32> {
        let model = &self.shared.model;
        let t = model.topics.iter().find(|t| t.config.name == topic)?;
        Some(self.shared.controls.moved_leader(topic, partition).unwrap_or_else(|| model.leader(t, partition)))
    }

    /// Serve `api` only up to version `max` (and advertise that), like an older broker.
    pub fn cap_version(&self, api: ApiKey, max: i16) {
        self.shared.controls.cap_version(api, max);
    }

    /// Completed GSSAPI logins per client principal (empty without GSSAPI).
    pub fn kerberos_logins(&self) -> std::collections::BTreeMap<String, u64> {
        self.shared.sasl.as_ref().and_then(|s| s.kerberos.as_ref()).map(|k| k.logins()).unwrap_or_default()
    }

    /// Stop every listener and connection, waiting (bounded) for them to finish.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        self.tracker.close();
        if tokio::time::timeout(DRAIN_TIMEOUT, self.tracker.wait()).await.is_err() {
            tracing::warn!("simulator tasks did not stop in time");
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
