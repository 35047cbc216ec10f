//! Shared test helpers: a simulator on its own runtime (so test bodies can call blocking
//! rdkafka APIs directly), rdkafka client configs, and a raw wire client built on kafka-protocol.

#![allow(dead_code)] // each test binary uses a different subset of the helpers

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use lagring_sim::{Clock, ManualClock, Scenario, Sim, SimHandle};
use rdkafka::ClientConfig;
use rdkafka::consumer::BaseConsumer;

pub const TIMEOUT: Duration = Duration::from_secs(10);

pub struct TestSim {
    pub handle: Option<SimHandle>,
    pub clock: ManualClock,
    pub runtime: tokio::runtime::Runtime,
}

impl TestSim {
    pub fn sim(&self) -> &SimHandle {
        self.handle.as_ref().unwrap()
    }
}

impl Drop for TestSim {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            self.runtime.block_on(handle.shutdown());
        }
    }
}

pub fn scenario_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(name)
}

pub fn start_file(name: &str) -> TestSim {
    start(Scenario::from_file(&scenario_path(name)).unwrap())
}

pub fn start(scenario: Scenario) -> TestSim {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (clock, manual) = Clock::manual();
    let handle = runtime.block_on(Sim::start(scenario, clock)).unwrap();
    TestSim { handle: Some(handle), clock: manual, runtime }
}

pub fn consumer(sim: &SimHandle, group: &str, extra: &[(&str, &str)]) -> BaseConsumer {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", sim.bootstrap())
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("socket.timeout.ms", "5000");
    for (k, v) in extra {
        config.set(*k, *v);
    }
    config.create().unwrap()
}

/// A blocking raw Kafka client for wire-level assertions.
pub struct Raw {
    stream: TcpStream,
    next_id: i32,
}

impl Raw {
    pub fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        Raw { stream, next_id: 1 }
    }

    pub fn set_read_timeout(&self, timeout: Duration) {
        self.stream.set_read_timeout(Some(timeout)).unwrap();
    }

    /// Send a request; returns the correlation id.
    pub fn send<R: Encodable + HeaderVersion>(&mut self, key: ApiKey, version: i16, req: &R) -> i32 {
        self.send_as(key, version, version, req)
    }

    /// Encode with `version` but announce `wire_version` in the header (to probe versions the
    /// codec cannot encode).
    pub fn send_as<R: Encodable + HeaderVersion>(
        &mut self,
        key: ApiKey,
        version: i16,
        wire_version: i16,
        req: &R,
    ) -> i32 {
        let id = self.next_id;
        self.next_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(id)
            .with_client_id(Some(StrBytes::from_static_str("raw-test")));
        let mut body = BytesMut::new();
        header.encode(&mut body, R::header_version(version)).unwrap();
        req.encode(&mut body, version).unwrap();
        let mut frame = BytesMut::new();
        frame.put_i32(body.len() as i32);
        frame.put_slice(&body);
        frame[6..8].copy_from_slice(&wire_version.to_be_bytes());
        self.stream.write_all(&frame).unwrap();
        id
    }

    /// Read one response frame (header + body bytes); `Err` on timeout.
    pub fn read_frame(&mut self) -> std::io::Result<Bytes> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len)?;
        let mut buf = vec![0u8; i32::from_be_bytes(len) as usize];
        self.stream.read_exact(&mut buf)?;
        Ok(Bytes::from(buf))
    }

    /// Round trip with typed decoding of the response.
    pub fn call<Req, Resp>(&mut self, key: ApiKey, version: i16, req: &Req) -> Resp
    where
        Req: Encodable + HeaderVersion,
        Resp: Decodable + HeaderVersion,
    {
        let id = self.send(key, version, req);
        let mut frame = self.read_frame().unwrap();
        let header = ResponseHeader::decode(&mut frame, Resp::header_version(version)).unwrap();
        assert_eq!(header.correlation_id, id);
        let resp = Resp::decode(&mut frame, version).unwrap();
        assert_eq!(frame.remaining(), 0, "trailing bytes in response");
        resp
    }
}
